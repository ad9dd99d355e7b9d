using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Stats.Queries.GetStats;
using AssistenteIa.Application.Tasks.Commands.CancelTask;
using AssistenteIa.Application.Tasks.Commands.CreateTask;
using AssistenteIa.Application.Tasks.Queries.GetTask;
using AssistenteIa.Application.Tasks.Queries.ListTasks;
using AssistenteIa.Application.Tenants;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Infrastructure;
using AssistenteIa.Infrastructure.Persistence;
using AssistenteIaApi.Errors;
using AssistenteIaApi.Interfaces.Cli;
using AssistenteIaApi.Interfaces.Http.Controllers;
using AssistenteIaApi.Interfaces.Messaging;
using AssistenteIaApi.Interfaces.Web;
using AssistenteIaApi.OpenApi;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Authentication;

var builder = Extensions.CreateServiceBuilder(args);

builder.AddServiceDefaults();
// The API's share of the database's connections (ServiceB and ServiceC take 20 each): LoadShedding's 24 places, and
// room for the event streams' catch-ups, health checks and background work.
builder.AddApplicationCore(retryTransientFailures: true, maxPoolSize: 32);
builder.AddMessaging();
builder.AddAiOptions();
builder.AddCapabilityContracts();
builder.Services.AddScoped<CreateTaskHandler>();
builder.Services.AddSingleton<TaskCreationWriter>();
builder.Services.AddScoped<GetTaskHandler>();
builder.Services.AddScoped<ListTasksHandler>();
builder.Services.AddScoped<CancelTaskHandler>();
builder.Services.AddOptions<AssistenteIa.Application.Files.FilesOptions>().Bind(builder.Configuration.GetSection(AssistenteIa.Application.Files.FilesOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddScoped<AssistenteIa.Application.Files.FilesHandler>();
builder.Services.AddScoped<AssistenteIa.Application.Collections.CollectionsHandler>();
builder.Services.AddScoped<ApiKeyService>();
builder.Services.AddOptions<TenancyOptions>().Bind(builder.Configuration.GetSection(TenancyOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton<ApiKeyCache>();
builder.Services.AddSingleton<KeyLookupGuard>();
builder.AddTaskEventStreams();
builder.AddWebhookCore();
builder.Services.AddScoped<WebhooksHandler>();
builder.Services.AddScoped<ITaskStatsReader, TaskStatsReader>();
builder.Services.AddScoped<GetStatsHandler>();

var maxPayloadBytes = (builder.Configuration.GetSection(TaskOptions.Section).Get<TaskOptions>() ?? new TaskOptions()).MaxPayloadBytes;

// Leave room for the envelope around the payload; the payload limit itself is checked by the use case (413).
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = maxPayloadBytes * 2L + 64 * 1024);

builder.Services.AddControllers()
    .AddJsonOptions(options => JsonDefaults.Configure(options.JsonSerializerOptions))
    .ConfigureApiBehaviorOptions(options => options.InvalidModelStateResponseFactory = ValidationProblems.FromModelState);
builder.Services.AddProblemDetails(options => options.CustomizeProblemDetails = ProblemDefaults.Complete);
builder.Services.AddExceptionHandler<ProblemDetailsExceptionHandler>();
builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
    .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
builder.Services.AddAuthorization();
builder.Services.AddTenantRateLimits(builder.Configuration);
builder.Services.AddLoadShedding(builder.Configuration);
builder.Services.AddSwaggerDocumentation(builder.Environment);

var app = builder.Build();

if (ApiKeysCommand.IsInvocation(args))
{
    return await ApiKeysCommand.RunAsync(app, args);
}

await app.Services.InitializeDatabaseAsync();

// The API starts before ServiceC: make the data-protection key now, so ServiceC's first read of the key ring has it.
app.Services.GetRequiredService<IWebhookSecrets>().Protect("key ring ready");

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseSwaggerDocumentation();
app.UseWebApp();
app.UseAuthentication();
app.UseRateLimiter();
app.UseAuthorization();
app.MapControllers();
app.MapDefaultEndpoints();
app.MapWebApp();

app.Logger.LogInformation("Event streams of this instance answer with {Header}: {InstanceId}", TaskEventsController.ServedByHeader, TaskEventsController.ServedBy);
await app.RunAsync();
return 0;

/// <summary>Entry point, visible to the integration tests.</summary>
public partial class Program;
