using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// Queues what is due: tasks created for later whose time came, and failed tasks whose backoff is over.
/// Each change and its <c>TaskQueued</c> row commit together; optimistic concurrency lets several dispatchers run. A
/// task that cannot be moved holds back no other (<see cref="RefusedTasks"/>).
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
        var due = await db.Tasks
            .Where(t => (t.Status == AiTaskStatus.Failed || t.Status == AiTaskStatus.Created) && (t.ScheduledAt == null || t.ScheduledAt <= now) && !leftOut.Contains(t.Id))
            .OrderBy(t => t.ScheduledAt)
            .Take(batchSize)
            .ToListAsync(cancellationToken);
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
        }
        catch (Exception ex) when (RefusedTasks.IsRefusal(ex))
        {
            // Another dispatcher (or a cancel) changed one of them first, or one of them cannot be moved: the batch is
            // tried again one task at a time on fresh state.
            db.ClearTracking();
            throw new RefusedBatchException([.. due.Select(t => t.Id)], ex);
        }

        await outbox.PublishSavedAsync(cancellationToken);
        return due.Count;
    }
}
