using AssistenteIa.Application.Abstractions;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Outbox;
using AssistenteIa.Domain.Tasks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// Announces again tasks Queued for longer than <c>olderThan</c>: their message may be gone (queue purged or
/// deleted, broker node lost). A duplicate is harmless: the claim lets only one delivery run the attempt.
/// </summary>
public sealed class RequeueStaleTasksHandler(IAppDbContext db, OutboxPublisher outbox, TimeProvider clock, ILogger<RequeueStaleTasksHandler> logger)
{
    public async Task<int> HandleAsync(TimeSpan olderThan, int batchSize, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var staleBefore = now - olderThan;
        var stale = await db.Tasks
            .Where(t => t.Status == AiTaskStatus.Queued && t.UpdatedAt <= staleBefore)
            .OrderBy(t => t.UpdatedAt)
            .Take(batchSize)
            .ToListAsync(cancellationToken);
        if (stale.Count == 0)
        {
            return 0;
        }

        var messages = new List<OutboxMessage>(stale.Count);
        foreach (var task in stale)
        {
            task.Requeue(now);
            messages.Add(TaskMessages.Queued(task, now));
        }

        if (!await outbox.SaveAndPublishAsync(messages, cancellationToken))
        {
            return 0;
        }

        logger.LogWarning("Queued {Count} tasks again that waited longer than {Age} for their message", stale.Count, olderThan);
        return stale.Count;
    }
}
