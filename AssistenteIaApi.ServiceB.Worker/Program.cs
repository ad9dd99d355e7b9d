using AssistenteIa.Infrastructure;
using AssistenteIaApi.ServiceB.Worker;

// ServiceB, the executor: consumes tasks-queued, runs each task through the AI client and records the outcome.
var builder = Extensions.CreateServiceBuilder(args);

builder.AddServiceDefaults();
// Its share of the database's connections: every delivery handled at once may hold one (see WorkerOptions).
var worker = builder.Configuration.GetSection(AssistenteIa.Application.WorkerOptions.Section).Get<AssistenteIa.Application.WorkerOptions>() ?? new();
builder.AddApplicationCore(maxPoolSize: Math.Max(DependencyInjection.DefaultMaxPoolSize, worker.DeliveryConcurrency + 8));
builder.AddMessaging();
builder.AddTaskExecution();

var app = builder.Build();
app.MapDefaultEndpoints();
await app.RunAsync();
