using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// Announces again tasks Queued for longer than <c>olderThan</c>: their message may be gone (queue purged or
/// deleted, broker node lost). A duplicate is harmless: the claim lets only one delivery run the attempt. A task that
/// cannot be moved holds back no other (<see cref="RefusedTasks"/>).
/// </summary>
public sealed class RequeueStaleTasksHandler(IAppDbContext db, OutboxPublisher outbox, TimeProvider clock, RefusedTasks refusedTasks, ILogger<RequeueStaleTasksHandler> logger)
{
    public const string Step = "stale queued tasks";

    public async Task<int> HandleAsync(TimeSpan olderThan, int batchSize, CancellationToken cancellationToken)
    {
        var count = await refusedTasks.RunAsync(Step, batchSize, (size, leftOut) => RequeueAsync(olderThan, size, leftOut, cancellationToken), logger);
        if (count > 0)
        {
            logger.LogWarning("Queued {Count} tasks again that waited longer than {Age} for their message", count, olderThan);
        }

        return count;
    }

    private Task<int> RequeueAsync(TimeSpan olderThan, int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        return TaskBatch.MoveAsync(
            db,
            outbox,
            () => db.LockStaleQueuedAsync(now - olderThan, batchSize, leftOut, cancellationToken),
            stale =>
            {
                foreach (var task in stale)
                {
                    task.Requeue(now);
                }

                return Task.CompletedTask;
            },
            cancellationToken);
    }
}
