using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// Queues what is due: tasks created for later whose time came, and failed tasks whose backoff is over.
/// Each change and its <c>TaskQueued</c> row commit together, checked by the row version and the task's event numbers (a
/// cancel racing it refuses the save or is refused, and tries again); one dispatcher instance schedules at a time (the
/// step's advisory lock). A task that cannot be moved holds back no other (<see cref="RefusedTasks"/>).
/// </summary>
public sealed class ScheduleDueTasksHandler(IAppDbContext db, OutboxPublisher outbox, TimeProvider clock, RefusedTasks refusedTasks, ILogger<ScheduleDueTasksHandler> logger)
{
    public const string Step = "scheduler";

    public async Task<int> HandleAsync(int batchSize, CancellationToken cancellationToken)
    {
        var count = await refusedTasks.RunAsync(Step, batchSize, (size, leftOut) => QueueAsync(size, leftOut, cancellationToken), logger);
        if (count > 0)
        {
            logger.LogInformation("Queued {Count} due tasks", count);
        }

        return count;
    }

    private async Task<int> QueueAsync(int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        int count;
        await using (var transaction = await db.BeginTransactionAsync(cancellationToken))
        {
            // One dispatcher instance schedules at a time: two reading the same due tasks would refuse each other's saves.
            if (!await db.TryLockStepAsync(Step, cancellationToken))
            {
                return 0;
            }

            var due = await db.FindDueTasksAsync(now, batchSize, leftOut, cancellationToken);
            if (due.Count == 0)
            {
                return 0;
            }

            try
            {
                foreach (var task in due)
                {
                    task.Enqueue(now);
                }

                await db.SaveChangesAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
            catch (Exception ex) when (RefusedTasks.IsRefusal(ex))
            {
                // A cancel changed one of them first, or one of them cannot be moved: the batch is tried again one task
                // at a time on fresh state.
                db.ClearTracking();
                throw new RefusedBatchException([.. due.Select(t => t.Id)], ex);
            }

            count = due.Count;
        }

        await outbox.PublishSavedAsync(cancellationToken);
        return count;
    }
}
