using System.ComponentModel.DataAnnotations;
using AssistenteIa.Application.Dispatching;
using AssistenteIa.Application.Outbox;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceC.Worker.Dispatching;

/// <summary>Section <c>Dispatcher</c>: how often ServiceC looks for work.</summary>
public sealed class DispatcherOptions
{
    public const string Section = "Dispatcher";

    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>
    /// A task Queued longer than this gets its message again (it may have been lost from the broker), once no work
    /// message waits in the queue (<see cref="RequeueStaleTasksHandler"/>).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan RequeueQueuedAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A task Queued longer than this gets its message again even while other messages wait (a message lost behind a
    /// backlog that does not drain), one batch a housekeeping round; at least <see cref="RequeueQueuedAfter"/>.
    /// </summary>
    public TimeSpan RequeueBehindBacklogAfter { get; set; } = TimeSpan.FromMinutes(20);

    /// <summary>
    /// Tasks announced again in one housekeeping round at most: two rows each, which go through the outbox's in-memory
    /// queue (<c>OutboxDispatcher.MaxQueued</c>, 20,000 rows).
    /// </summary>
    [Range(1, 10_000)]
    public int RequeueMaxPerRound { get; set; } = 5_000;

    /// <summary>
    /// Sent outbox rows are deleted after this long; at least a day. A task's event rows also refuse a save made from a
    /// stale read of the task (by their unique sequence numbers: <c>IAppDbContext.SaveInOneRoundTripAsync</c>), as long
    /// as they are kept: no save here waits that long between its read and its write (an attempt runs for at most
    /// <c>Worker:AttemptTimeout</c>, which the broker's delivery timeout bounds).
    /// </summary>
    [Range(typeof(TimeSpan), "1.00:00:00", "3650.00:00:00", ErrorMessage = "Dispatcher:OutboxRetention must be between 1 day and 3650 days.")]
    public TimeSpan OutboxRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long one tick keeps going while a step still finds a full batch (a backlog after a broker outage, a burst of
    /// tasks scheduled for the same moment, many leases lost with a worker); the next tick goes on from there.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan MaxDrainTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the slower housekeeping steps (requeue of stale tasks, outbox purge) run.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00")]
    public TimeSpan HousekeepingInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>ServiceC's loop: relay the outbox, queue due retries, rescue expired leases. Each step fails alone.</summary>
public sealed class DispatcherService(IServiceScopeFactory scopes, IOptions<DispatcherOptions> options, TimeProvider clock, ILogger<DispatcherService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        using var timer = new PeriodicTimer(settings.PollInterval, clock);
        var nextHousekeeping = clock.GetUtcNow();
        do
        {
            // Round after round while any step found a full batch, within MaxDrainTime: one batch a tick drained a backlog
            // at BatchSize rows a second. The steps take turns, so none waits for another's backlog to end.
            var draining = clock.GetTimestamp();
            bool full;
            do
            {
                full = await RunStepAsync("outbox relay", (sp, ct) => sp.GetRequiredService<OutboxRelay>().RelayAsync(settings.BatchSize, ct), stoppingToken) >= settings.BatchSize;
                full |= await RunStepAsync(ScheduleDueTasksHandler.Step, (sp, ct) => sp.GetRequiredService<ScheduleDueTasksHandler>().HandleAsync(settings.BatchSize, ct), stoppingToken) >= settings.BatchSize;
                full |= await RunStepAsync(RescueExpiredLeasesHandler.Step, (sp, ct) => sp.GetRequiredService<RescueExpiredLeasesHandler>().HandleAsync(settings.BatchSize, ct), stoppingToken) >= settings.BatchSize;
            }
            while (full && !stoppingToken.IsCancellationRequested && clock.GetElapsedTime(draining) < settings.MaxDrainTime);

            if (clock.GetUtcNow() >= nextHousekeeping)
            {
                nextHousekeeping = clock.GetUtcNow() + settings.HousekeepingInterval;
                await RunStepAsync(RequeueStaleTasksHandler.Step, (sp, ct) => sp.GetRequiredService<RequeueStaleTasksHandler>().HandleAsync(new StaleQueueLimits(settings.RequeueQueuedAfter, settings.RequeueBehindBacklogAfter, settings.BatchSize, settings.RequeueMaxPerRound, settings.MaxDrainTime), ct), stoppingToken);
                await RunStepAsync("outbox purge", (sp, ct) => sp.GetRequiredService<PurgeSentOutboxHandler>().HandleAsync(settings.OutboxRetention, ct), stoppingToken);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(t => t.IsCompletedSuccessfully && t.Result, TaskScheduler.Default));
    }

    /// <summary>Runs one step in a scope of its own; returns how many rows it handled (none when it failed).</summary>
    private async Task<int> RunStepAsync(string name, Func<IServiceProvider, CancellationToken, Task<int>> step, CancellationToken stoppingToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            return await step(scope.ServiceProvider, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return 0;
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Dispatcher step {Step} failed; retrying on the next tick", name);
            return 0;
        }
    }
}

public static class DispatcherRegistration
{
    public static IHostApplicationBuilder AddDispatcher(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<DispatcherOptions>().Bind(builder.Configuration.GetSection(DispatcherOptions.Section)).ValidateDataAnnotations()
            .Validate(o => o.RequeueBehindBacklogAfter >= o.RequeueQueuedAfter, "Dispatcher:RequeueBehindBacklogAfter must not be shorter than Dispatcher:RequeueQueuedAfter.")
            .ValidateOnStart();
        builder.Services.AddScoped<OutboxRelay>();
        builder.Services.AddSingleton<RefusedTasks>();
        builder.Services.AddScoped<ScheduleDueTasksHandler>();
        builder.Services.AddScoped<RescueExpiredLeasesHandler>();
        builder.Services.AddScoped<RequeueStaleTasksHandler>();
        builder.Services.AddScoped<PurgeSentOutboxHandler>();
        builder.Services.AddHostedService<DispatcherService>();
        return builder;
    }
}
