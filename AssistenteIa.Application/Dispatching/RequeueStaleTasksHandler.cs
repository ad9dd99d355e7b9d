using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// Announces again tasks Queued for longer than <c>olderThan</c> whose message is gone (queue purged or deleted, broker
/// node lost, a worker stuck on its prefetched deliveries). It does so only while no work message waits in the queue:
/// then every message published before that moment has reached a worker, so a task still Queued that long ago has none
/// left on its way. A backlog still draining is not a loss: announcing its tasks again would put a second message behind
/// every one of them, and a third five minutes later, for as long as the backlog lasts. Once the queue is empty, every
/// task stale at that moment is announced, batch after batch within <c>maxDrainTime</c>, so a purged queue of thousands
/// is recovered in rounds, not a batch each housekeeping interval. A duplicate is harmless: the claim lets only one
/// delivery run the attempt. A task that cannot be moved holds back no other (<see cref="RefusedTasks"/>).
/// </summary>
public sealed class RequeueStaleTasksHandler(IAppDbContext db, OutboxPublisher outbox, IWorkQueue workQueue, TimeProvider clock, RefusedTasks refusedTasks, ILogger<RequeueStaleTasksHandler> logger)
{
    public const string Step = "stale queued tasks";

    public async Task<int> HandleAsync(TimeSpan olderThan, int batchSize, TimeSpan maxDrainTime, CancellationToken cancellationToken)
    {
        var draining = clock.GetTimestamp();
        var staleBefore = clock.GetUtcNow() - olderThan;
        var waiting = await workQueue.CountWaitingAsync(cancellationToken);
        if (waiting > 0)
        {
            logger.LogDebug("{Waiting} work messages still wait in the queue; no task is announced again before they are delivered", waiting);
            return 0;
        }

        var count = 0;
        int moved;
        do
        {
            moved = await refusedTasks.RunAsync(Step, batchSize, (size, leftOut) => RequeueAsync(staleBefore, size, leftOut, cancellationToken), logger);
            count += moved;
        }
        while (moved >= batchSize && !cancellationToken.IsCancellationRequested && clock.GetElapsedTime(draining) < maxDrainTime);

        if (count > 0)
        {
            logger.LogWarning("Queued {Count} tasks again that waited longer than {Age} for their message", count, olderThan);
        }

        return count;
    }

    private Task<int> RequeueAsync(DateTimeOffset staleBefore, int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken) =>
        TaskBatch.MoveAsync(
            db,
            outbox,
            () => db.LockStaleQueuedAsync(staleBefore, batchSize, leftOut, cancellationToken),
            stale =>
            {
                var now = clock.GetUtcNow();
                foreach (var task in stale)
                {
                    task.Requeue(now);
                }

                return Task.CompletedTask;
            },
            cancellationToken);
}
