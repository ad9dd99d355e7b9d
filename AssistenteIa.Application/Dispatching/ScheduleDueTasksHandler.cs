using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// Queues what is due: tasks created for later whose time came, and failed tasks whose backoff is over.
/// Each change and its <c>TaskQueued</c> row commit together; optimistic concurrency lets several dispatchers run.
/// </summary>
public sealed class ScheduleDueTasksHandler(IAppDbContext db, OutboxPublisher outbox, TimeProvider clock, ILogger<ScheduleDueTasksHandler> logger)
{
    public async Task<int> HandleAsync(int batchSize, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var due = await db.Tasks
            .Where(t => (t.Status == AiTaskStatus.Failed || t.Status == AiTaskStatus.Created) && (t.ScheduledAt == null || t.ScheduledAt <= now))
            .OrderBy(t => t.ScheduledAt)
            .Take(batchSize)
            .ToListAsync(cancellationToken);
        if (due.Count == 0)
        {
            return 0;
        }

        foreach (var task in due)
        {
            task.Enqueue(now);
        }

        if (!await outbox.SaveAndPublishAsync(cancellationToken))
        {
            // Another dispatcher (or a cancel) changed one of them first; the next round sees fresh state.
            return 0;
        }

        logger.LogInformation("Queued {Count} due tasks", due.Count);
        return due.Count;
    }
}
