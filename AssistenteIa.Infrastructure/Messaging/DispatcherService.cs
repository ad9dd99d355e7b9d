using AssistenteIa.Application.Dispatching;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>Section <c>Dispatcher</c>: how often ServiceC looks for work.</summary>
public sealed class DispatcherOptions
{
    public const string Section = "Dispatcher";

    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
    public int BatchSize { get; set; } = 100;
}

/// <summary>ServiceC's loop: relay the outbox, queue due retries, rescue expired leases. Each step fails alone.</summary>
public sealed class DispatcherService(IServiceScopeFactory scopes, IOptions<DispatcherOptions> options, TimeProvider clock, ILogger<DispatcherService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.PollInterval, clock);
        do
        {
            await RunStepAsync("outbox relay", (sp, ct) => sp.GetRequiredService<OutboxRelay>().RelayAsync(options.Value.BatchSize, ct), stoppingToken);
            await RunStepAsync("scheduler", (sp, ct) => sp.GetRequiredService<ScheduleDueTasksHandler>().HandleAsync(options.Value.BatchSize, ct), stoppingToken);
            await RunStepAsync("lease rescuer", (sp, ct) => sp.GetRequiredService<RescueExpiredLeasesHandler>().HandleAsync(options.Value.BatchSize, ct), stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result, TaskScheduler.Default));
    }

    private async Task RunStepAsync(string name, Func<IServiceProvider, CancellationToken, Task<int>> step, CancellationToken stoppingToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await step(scope.ServiceProvider, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Dispatcher step {Step} failed; retrying on the next tick", name);
        }
    }
}

public static class DispatcherRegistration
{
    public static IHostApplicationBuilder AddDispatcher(this IHostApplicationBuilder builder)
    {
        builder.Services.Configure<DispatcherOptions>(builder.Configuration.GetSection(DispatcherOptions.Section));
        builder.Services.AddScoped<OutboxRelay>();
        builder.Services.AddScoped<ScheduleDueTasksHandler>();
        builder.Services.AddScoped<RescueExpiredLeasesHandler>();
        builder.Services.AddHostedService<DispatcherService>();
        return builder;
    }
}
