using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.Commands.ExecuteTask;

/// <summary>
/// The worker's heartbeat: one statement renews the leases of every attempt it runs, by the database's clock.
/// An attempt whose lease is gone (the dispatcher rescued the task while this worker was paused or cut off) is
/// stopped at once, so one task never keeps running on two workers. An attempt whose lease this worker could not
/// confirm for almost a lease (the database unreachable: the dispatcher may be about to rescue it) is stopped by its
/// own timer on the monotonic clock (<see cref="RunningAttempts"/>); this heartbeat settles what only the wall clock
/// says is over. A cancel request seen in the row stops its attempt too (the fallback when the control message was
/// lost).
/// </summary>
public sealed class RenewLeasesHandler(
    IAppDbContext db,
    RunningAttempts running,
    WorkerIdentity worker,
    IOptions<WorkerOptions> options,
    DatabaseClock databaseClock,
    TimeProvider clock,
    ILogger<RenewLeasesHandler> logger)
{
    public async Task<int> HandleAsync(CancellationToken cancellationToken)
    {
        var attempts = running.All;
        if (attempts.Count == 0)
        {
            return 0;
        }

        // Read before the statement: the renewed leases run from the database's now(), which is no earlier than this.
        var now = ClockReading.Of(clock);
        var leases = attempts.Select(a => new AttemptLease(a.TaskId, a.AttemptNo)).ToList();
        Dictionary<(Guid, int), LeaseRenewal> renewed;
        try
        {
            renewed = (await db.RenewLeasesAsync(worker.Id, leases, options.Value.LeaseDuration, options.Value.RenewalTimeout, cancellationToken)).ToDictionary(r => (r.TaskId, r.AttemptNo));
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // A failover may bring another clock: the next claim reads its task (DatabaseClock).
            databaseClock.Forget();

            // Past the limit by the wall clock and not confirmed now: the machine may have slept through the lease.
            // Judged when the renewal has failed, which may be long after it began: a renewal sent meanwhile (the
            // heartbeat does not wait on one that does not answer) may have confirmed the lease since, and the time
            // the failure took counts.
            var failedAt = ClockReading.Of(clock);
            foreach (var attempt in InDoubt(attempts, failedAt))
            {
                await StopAsync(attempt, failedAt);
            }

            throw;
        }

        foreach (var attempt in attempts)
        {
            if (!renewed.TryGetValue((attempt.TaskId, attempt.AttemptNo), out var lease))
            {
                if (await attempt.StopAsync(StopReason.LeaseLost))
                {
                    logger.LogWarning("Lease of task {TaskId} attempt {AttemptNo} is no longer held by {WorkerId}; stopping the attempt", attempt.TaskId, attempt.AttemptNo, worker.Id);
                }

                continue;
            }

            attempt.Renewed(now);
            if (lease.CancelRequested && await attempt.StopAsync(StopReason.CancelRequested))
            {
                logger.LogInformation("Cancel requested for running task {TaskId}", attempt.TaskId);
            }
        }

        return renewed.Count;
    }

    /// <summary>
    /// Attempts unconfirmed past <see cref="WorkerOptions.UnconfirmedLeaseLimit"/> by the wall clock but not by the
    /// monotonic one (whose verdict each attempt's own timer carries out): the wall clock stepped forward (the lease
    /// is in fact held) or the machine slept while its monotonic clock stood still (the lease may be gone). Only the
    /// renewal can tell; what it cannot confirm stops.
    /// </summary>
    private List<RunningAttempts.RunningAttempt> InDoubt(IReadOnlyCollection<RunningAttempts.RunningAttempt> attempts, ClockReading now)
    {
        var limit = options.Value.UnconfirmedLeaseLimit;
        return attempts.Where(a => now.WallSince(a.RenewedAt) > limit && now.MonotonicSince(a.RenewedAt) <= limit).ToList();
    }

    private async Task StopAsync(RunningAttempts.RunningAttempt attempt, ClockReading now)
    {
        var renewedAt = attempt.RenewedAt;
        if (await attempt.StopAsync(StopReason.LeaseLost))
        {
            logger.LogWarning(
                "Lease of task {TaskId} attempt {AttemptNo} not confirmed for {MonotonicElapsed} (wall clock: {WallElapsed}); stopping the attempt before the dispatcher rescues it",
                attempt.TaskId, attempt.AttemptNo, now.MonotonicSince(renewedAt), now.WallSince(renewedAt));
        }
    }
}
