using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
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
        int count;
        await using (var transaction = await db.BeginTransactionAsync(cancellationToken))
        {
            var stale = await db.LockStaleQueuedAsync(now - olderThan, batchSize, cancellationToken);
            if (stale.Count == 0)
            {
                return 0;
            }

            foreach (var task in stale)
            {
                task.Requeue(now);
            }

            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            count = stale.Count;
        }

        await outbox.PublishSavedAsync(cancellationToken);
        logger.LogWarning("Queued {Count} tasks again that waited longer than {Age} for their message", count, olderThan);
        return count;
    }
}
