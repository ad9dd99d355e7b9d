using AssistenteIa.Application;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace AssistenteIaApi.ServiceB.Worker.Hosting;

/// <summary>
/// ServiceB's heartbeat loop: one batched lease renewal for all running attempts per interval. The attempts fence
/// themselves one interval after a beat that did not confirm them, so a renewal that fails is tried again after
/// <see cref="WorkerOptions.RenewalRetryDelay"/>, and one that has not answered after
/// <see cref="WorkerOptions.RenewalPatience"/> is followed at once by another on another connection. The one that does
/// not answer is left to end by itself in its own scope: its statement is cancelled after
/// <see cref="WorkerOptions.RenewalTimeout"/> and it fails (cancelling it from here would run the cancel request on this
/// loop); at most <see cref="MaxUnanswered"/> are left at once, and when a second one goes unanswered the pool's
/// connections are discarded (after a network break every idle one may be dead and silent).
/// </summary>
public sealed class LeaseHeartbeatService(IServiceScopeFactory scopes, IOptions<WorkerOptions> options, TimeProvider clock, ILogger<LeaseHeartbeatService> logger)
    : BackgroundService
{
    public const int MaxUnanswered = 3;

    private readonly List<Task<bool>> _unanswered = [];
    private int _failures;

    private enum Beat
    {
        Answered,
        Failed,
        Unanswered,
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var worker = options.Value;
        var wait = worker.EffectiveHeartbeatInterval;
        try
        {
            while (true)
            {
                await Task.Delay(wait, clock, stoppingToken);
                var started = clock.GetTimestamp();
                wait = await BeatAsync(worker, stoppingToken) switch
                {
                    // The interval runs from the beat's start, as the attempts' fences do.
                    Beat.Answered => Max(TimeSpan.Zero, worker.EffectiveHeartbeatInterval - clock.GetElapsedTime(started)),
                    Beat.Failed => worker.RenewalRetryDelay,
                    _ => TimeSpan.Zero,
                };
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Renewals left unanswered end with the stopping token; their scopes must not outlive the host's services.
            await ((Task)Task.WhenAll(_unanswered).WaitAsync(TimeSpan.FromSeconds(2), clock, CancellationToken.None)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private async Task<Beat> BeatAsync(WorkerOptions worker, CancellationToken stoppingToken)
    {
        _unanswered.RemoveAll(renewal => renewal.IsCompleted);
        if (_unanswered.Count >= MaxUnanswered)
        {
            logger.LogWarning("{Count} lease renewals have not answered; waiting for one before the next", _unanswered.Count);
            await ((Task)Task.WhenAny(_unanswered).WaitAsync(worker.RenewalRetryDelay, clock, stoppingToken)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return Beat.Failed;
        }

        var renewal = RenewAsync(stoppingToken);
        try
        {
            return await renewal.WaitAsync(worker.RenewalPatience, clock, stoppingToken) ? Beat.Answered : Beat.Failed;
        }
        catch (TimeoutException)
        {
            _unanswered.Add(renewal);
            logger.LogWarning("Lease renewal has not answered for {Wait}; trying again on another connection", worker.RenewalPatience);
            if (_unanswered.Count > 1)
            {
                DiscardPooledConnections();
            }

            return Beat.Unanswered;
        }
    }

    private async Task<bool> RenewAsync(CancellationToken stoppingToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<RenewLeasesHandler>().HandleAsync(stoppingToken);
            if (Interlocked.Exchange(ref _failures, 0) > 0)
            {
                logger.LogInformation("Lease renewal answered again");
            }

            return true;
        }
        catch (Exception ex) when (stoppingToken.IsCancellationRequested)
        {
            logger.LogDebug(ex, "Lease renewal ended by the worker stopping");
            return false;
        }
        catch (Exception ex)
        {
            // The database may be restarting; the attempts fence themselves only an interval after the beat that failed.
            // The first failure of a run is a warning with its cause, the retries that follow only debug lines.
            var level = Interlocked.Increment(ref _failures) == 1 ? LogLevel.Warning : LogLevel.Debug;
            logger.Log(level, ex, "Lease renewal failed; trying again in {Delay}", options.Value.RenewalRetryDelay);
            return false;
        }
    }

    private void DiscardPooledConnections()
    {
        using var scope = scopes.CreateScope();
        if (scope.ServiceProvider.GetRequiredService<AppDbContext>().Database.GetDbConnection() is NpgsqlConnection connection)
        {
            NpgsqlConnection.ClearPool(connection);
        }
    }
}
