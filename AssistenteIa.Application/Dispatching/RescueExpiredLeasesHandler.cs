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
/// that comes back finds its lease gone on its next heartbeat and stops its attempt.
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
        await using var transaction = await db.BeginTransactionAsync(cancellationToken);
        var expired = await db.LockExpiredLeasesAsync(batchSize, cancellationToken);
        if (expired.Count == 0)
        {
            return 0;
        }

        var ids = expired.Select(t => t.Id).ToList();
        var openAttempts = (await db.TaskAttempts.Where(a => ids.Contains(a.TaskId) && a.Status == AttemptStatus.Running).ToListAsync(cancellationToken))
            .ToDictionary(a => (a.TaskId, a.AttemptNo));

        var now = clock.GetUtcNow();
        var rescued = new List<(AiTask, TaskAttempt)>();
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

        try
        {
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException ex)
        {
            // Another writer changed one of them first: the next round decides on fresh state. The rows are locked, so
            // this is rare; said every round, it names a task the database refuses to move (see the inner error).
            logger.LogWarning(ex, "Rescuing {Count} tasks conflicted with another change; the next round tries again", expired.Count);
            db.ClearTracking();
            return 0;
        }

        foreach (var (task, attempt) in rescued)
        {
            metrics.AttemptEnded(task, attempt);
        }

        await outbox.PublishSavedAsync(cancellationToken);
        return expired.Count;
    }
}
