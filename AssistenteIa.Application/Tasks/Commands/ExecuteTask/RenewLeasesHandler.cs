using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.Commands.ExecuteTask;

/// <summary>
/// The worker's heartbeat: one statement renews the leases of every attempt it runs, by the database's clock.
/// An attempt whose lease is gone (the dispatcher rescued the task while this worker was paused or cut off) is
/// stopped at once, so one task never keeps running on two workers; so is an attempt whose lease this worker could
/// not confirm for almost a lease (the database unreachable: the dispatcher may be about to rescue it). A cancel
/// request seen in the row stops its attempt too (the fallback when the control message was lost).
/// </summary>
public sealed class RenewLeasesHandler(
    IAppDbContext db,
    RunningAttempts running,
    WorkerIdentity worker,
    IOptions<WorkerOptions> options,
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
        var doubtful = await StopUnconfirmedAsync(attempts, now);
        var leases = attempts.Select(a => new AttemptLease(a.TaskId, a.AttemptNo)).ToList();
        Dictionary<(Guid, int), LeaseRenewal> renewed;
        try
        {
            renewed = (await RenewWithinAnIntervalAsync(leases, cancellationToken)).ToDictionary(r => (r.TaskId, r.AttemptNo));
        }
        catch (Exception ex) when (doubtful.Count > 0 && ex is not OperationCanceledException)
        {
            // Past the limit by the wall clock, unconfirmed now: the machine may have slept through the lease.
            foreach (var attempt in doubtful)
            {
                await StopAsync(attempt, now);
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
    /// The renewal, given up after one heartbeat interval: a statement left hanging (a database cut off without a reset,
    /// packets dropped) held the next tick, and with it the self-fencing, for Npgsql's command timeout, past the lease
    /// while the dispatcher rescued the task. Cancelling also makes Npgsql abandon the command.
    /// </summary>
    private async Task<IReadOnlyList<LeaseRenewal>> RenewWithinAnIntervalAsync(IReadOnlyCollection<AttemptLease> leases, CancellationToken cancellationToken)
    {
        var interval = options.Value.EffectiveHeartbeatInterval;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewal = db.RenewLeasesAsync(worker.Id, leases, options.Value.LeaseDuration, limit.Token);
        try
        {
            return await renewal.WaitAsync(interval, clock, cancellationToken);
        }
        catch (TimeoutException)
        {
            await limit.CancelAsync();
            _ = renewal.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw new TimeoutException($"The lease renewal did not answer within {interval}.");
        }
    }

    /// <summary>
    /// Self-fencing: an attempt whose lease this worker could not confirm for a lease minus one interval is assumed
    /// lost and stopped. By the monotonic clock that is certain, and it stops here. By the wall clock alone it is in
    /// doubt: the wall clock stepped forward (the lease is in fact held) or the machine slept, its monotonic clock
    /// standing still (the lease may be gone); those are returned for the renewal to decide, and stopped if it cannot.
    /// </summary>
    private async Task<List<RunningAttempts.RunningAttempt>> StopUnconfirmedAsync(IReadOnlyCollection<RunningAttempts.RunningAttempt> attempts, ClockReading now)
    {
        var limit = options.Value.UnconfirmedLeaseLimit;
        var doubtful = new List<RunningAttempts.RunningAttempt>();
        foreach (var attempt in attempts)
        {
            var renewedAt = attempt.RenewedAt;
            if (now.MonotonicSince(renewedAt) > limit)
            {
                await StopAsync(attempt, now);
            }
            else if (now.WallSince(renewedAt) > limit)
            {
                doubtful.Add(attempt);
            }
        }

        return doubtful;
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
