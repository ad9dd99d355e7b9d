using AssistenteIa.Application.Abstractions;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Outbox;
using AssistenteIa.Domain.Tasks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// Takes back tasks whose worker stopped renewing its lease (it died): a reservation goes back to the queue;
/// a running attempt is closed as failed (<c>LeaseExpired</c>) and the task is retried or dead-lettered.
/// </summary>
public sealed class RescueExpiredLeasesHandler(
    IAppDbContext db,
    OutboxPublisher outbox,
    IOptions<TaskOptions> taskOptions,
    TimeProvider clock,
    TaskMetrics metrics,
    ILogger<RescueExpiredLeasesHandler> logger)
{
    public async Task<int> HandleAsync(int batchSize, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var expired = await db.Tasks
            .Where(t => (t.Status == AiTaskStatus.Reserved || t.Status == AiTaskStatus.Running) && t.LockedUntil != null && t.LockedUntil <= now)
            .OrderBy(t => t.LockedUntil)
            .Take(batchSize)
            .ToListAsync(cancellationToken);
        if (expired.Count == 0)
        {
            return 0;
        }

        var messages = new List<OutboxMessage>();
        var rescued = new List<(AiTask, TaskAttempt)>();
        var policy = new RetryPolicy(taskOptions.Value.RetryBaseDelay, taskOptions.Value.RetryMaxDelay);
        foreach (var task in expired)
        {
            logger.LogWarning("Lease of task {TaskId} held by {WorkerId} expired at {LockedUntil}; rescuing it", task.Id, task.LockedBy, task.LockedUntil);
            if (task.Status == AiTaskStatus.Reserved)
            {
                task.ReleaseReservation(now);
                messages.Add(TaskMessages.Queued(task, now));
                continue;
            }

            var attemptNo = task.AttemptCount;
            var attempt = await db.TaskAttempts.FirstAsync(a => a.TaskId == task.Id && a.AttemptNo == attemptNo, cancellationToken);
            var detail = $"Worker {task.LockedBy} stopped renewing its lease.";
            if (task.CancelRequested)
            {
                attempt.Close(AttemptStatus.Cancelled, AttemptUsage.None, now, "LeaseExpired", detail);
                task.Cancel(now);
            }
            else
            {
                task.FailAttempt(attempt, AttemptUsage.None, "LeaseExpired", detail, ErrorKind.Transient, policy, Random.Shared.NextDouble(), now);
            }

            rescued.Add((task, attempt));
        }

        if (!await outbox.SaveAndPublishAsync(messages, cancellationToken))
        {
            // The worker came back and renewed, or another dispatcher got there first: leave it for the next round.
            return 0;
        }

        foreach (var (task, attempt) in rescued)
        {
            metrics.AttemptEnded(task, attempt);
        }

        return expired.Count;
    }
}
