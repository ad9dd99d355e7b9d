using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Policies;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// Takes back tasks whose worker stopped renewing its lease (it died, or is paused): a reservation goes back to
/// the queue; a running attempt is closed as failed (<c>LeaseExpired</c>) and the task is retried or dead-lettered.
/// Leases are judged by the database's clock, and the rows stay locked until the rescue commits, so a worker
/// that comes back finds its lease gone on its next heartbeat and stops its attempt. A task that cannot be moved
/// holds back no other (<see cref="RefusedTasks"/>).
/// </summary>
public sealed class RescueExpiredLeasesHandler(
    IAppDbContext db,
    OutboxPublisher outbox,
    IOptions<TaskOptions> taskOptions,
    TimeProvider clock,
    TaskMetrics metrics,
    RefusedTasks refusedTasks,
    ILogger<RescueExpiredLeasesHandler> logger)
{
    public const string Step = "lease rescuer";

    public Task<int> HandleAsync(int batchSize, CancellationToken cancellationToken) =>
        refusedTasks.RunAsync(Step, batchSize, (size, leftOut) => RescueAsync(size, leftOut, cancellationToken), logger);

    private async Task<int> RescueAsync(int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken)
    {
        var rescued = new List<(AiTask, TaskAttempt)>();
        var count = await TaskBatch.MoveAsync(
            db,
            outbox,
            () => db.LockExpiredLeasesAsync(batchSize, leftOut, cancellationToken),
            expired => TakeBackAsync(expired, rescued, cancellationToken),
            cancellationToken);
        foreach (var (task, attempt) in rescued)
        {
            metrics.AttemptEnded(task, attempt);
        }

        return count;
    }

    private async Task TakeBackAsync(List<AiTask> expired, List<(AiTask, TaskAttempt)> rescued, CancellationToken cancellationToken)
    {
        var ids = expired.Select(t => t.Id).ToList();
        var openAttempts = (await db.TaskAttempts.Where(a => ids.Contains(a.TaskId) && a.Status == AttemptStatus.Running).ToListAsync(cancellationToken))
            .ToDictionary(a => (a.TaskId, a.AttemptNo));

        var now = clock.GetUtcNow();
        var policy = new RetryPolicy(taskOptions.Value.RetryBaseDelay, taskOptions.Value.RetryMaxDelay);
        foreach (var task in expired)
        {
            logger.LogWarning("Lease of task {TaskId} held by {WorkerId} expired at {LockedUntil}; rescuing it", task.Id, task.LockedBy, task.LockedUntil);
            if (task.Status == AiTaskStatus.Reserved)
            {
                task.ReleaseReservation(now);
                continue;
            }

            var detail = $"Worker {task.LockedBy} stopped renewing its lease.";
            if (!openAttempts.TryGetValue((task.Id, task.AttemptCount), out var attempt))
            {
                // A running task without an open attempt should not exist; failing it keeps one bad row from blocking every rescue.
                logger.LogError("Task {TaskId} is Running without an open attempt {AttemptNo}; failing it", task.Id, task.AttemptCount);
                task.Fail($"{TaskAttempt.LeaseExpiredCode}: {detail}", ErrorKind.Transient, policy, Random.Shared.NextDouble(), now);
                continue;
            }

            if (task.CancelRequested)
            {
                attempt.Close(AttemptStatus.Cancelled, AttemptUsage.None, now, TaskAttempt.LeaseExpiredCode, detail);
                task.Cancel(now);
            }
            else
            {
                task.FailAttempt(attempt, AttemptUsage.None, TaskAttempt.LeaseExpiredCode, detail, ErrorKind.Transient, policy, Random.Shared.NextDouble(), now);
            }

            rescued.Add((task, attempt));
        }
    }
}
