using AssistenteIa.Application.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.ExecuteTask;

/// <summary>
/// The worker's heartbeat: one statement renews the leases of every attempt it runs, by the database's clock.
/// An attempt whose lease is gone (the dispatcher rescued the task while this worker was paused or cut off) is
/// stopped at once, so one task never keeps running on two workers; a cancel request seen in the row stops its
/// attempt too (the fallback when the control message was lost).
/// </summary>
public sealed class RenewLeasesHandler(
    IAppDbContext db,
    RunningAttempts running,
    WorkerIdentity worker,
    IOptions<WorkerOptions> options,
    ILogger<RenewLeasesHandler> logger)
{
    public async Task<int> HandleAsync(CancellationToken cancellationToken)
    {
        var taskIds = running.TaskIds;
        if (taskIds.Count == 0)
        {
            return 0;
        }

        var renewed = (await db.RenewLeasesAsync(worker.Id, taskIds, options.Value.LeaseDuration, cancellationToken)).ToDictionary(r => r.TaskId);
        foreach (var taskId in taskIds)
        {
            if (!renewed.TryGetValue(taskId, out var lease))
            {
                if (await running.StopAsync(taskId, StopReason.LeaseLost))
                {
                    logger.LogWarning("Lease of task {TaskId} is no longer held by {WorkerId}; stopping its attempt", taskId, worker.Id);
                }
            }
            else if (lease.CancelRequested && await running.StopAsync(taskId, StopReason.CancelRequested))
            {
                logger.LogInformation("Cancel requested for running task {TaskId}", taskId);
            }
        }

        return renewed.Count;
    }
}
