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

    private Task<int> QueueAsync(int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        return TaskBatch.MoveAsync(
            db,
            outbox,
            async () =>
                // One dispatcher instance schedules at a time: two reading the same due tasks would refuse each other's saves.
                await db.TryLockStepAsync(Step, cancellationToken) ? await db.FindDueTasksAsync(now, batchSize, leftOut, cancellationToken) : [],
            due =>
            {
                foreach (var task in due)
                {
                    task.Enqueue(now);
                }

                return Task.CompletedTask;
            },
            cancellationToken);
    }
}
