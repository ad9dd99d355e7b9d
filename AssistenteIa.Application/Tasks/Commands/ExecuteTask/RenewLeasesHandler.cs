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

        await StopUnconfirmedAsync(attempts);
        var leases = attempts.Select(a => new AttemptLease(a.TaskId, a.AttemptNo)).ToList();

        // Read before the statement: the renewed leases run from the database's now(), which is no earlier than this.
        var now = ClockReading.Of(clock);
        var renewed = (await db.RenewLeasesAsync(worker.Id, leases, options.Value.LeaseDuration, cancellationToken)).ToDictionary(r => (r.TaskId, r.AttemptNo));
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
    /// Self-fencing: without a confirmed renewal for a lease minus one interval, by whichever of the worker's clocks
    /// says longer (<see cref="ClockReading"/>), assume the lease is lost.
    /// </summary>
    private async Task StopUnconfirmedAsync(IReadOnlyCollection<RunningAttempts.RunningAttempt> attempts)
    {
        var limit = options.Value.UnconfirmedLeaseLimit;
        var now = ClockReading.Of(clock);
        foreach (var attempt in attempts.Where(a => now.Since(a.RenewedAt) > limit))
        {
            if (await attempt.StopAsync(StopReason.LeaseLost))
            {
                logger.LogWarning(
                    "Lease of task {TaskId} attempt {AttemptNo} not confirmed since {RenewedAt}; stopping the attempt before the dispatcher rescues it",
                    attempt.TaskId, attempt.AttemptNo, attempt.RenewedAt.WallTime);
            }
        }
    }
}
