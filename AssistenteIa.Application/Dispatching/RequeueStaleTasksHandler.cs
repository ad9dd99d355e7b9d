using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Dispatching;

/// <summary>How the requeuer judges a task's message lost, and how many it announces again in one round.</summary>
/// <param name="StaleAfter">Queued this long, with no work message waiting in the queue: its message is gone.</param>
/// <param name="StaleBehindBacklogAfter">Queued this long while messages wait: lost behind a backlog that does not drain.</param>
/// <param name="BatchSize">Tasks moved in one transaction.</param>
/// <param name="MaxPerRound">Tasks announced again in one round at most.</param>
/// <param name="MaxDrainTime">How long one round goes on, batch after batch.</param>
public sealed record StaleQueueLimits(TimeSpan StaleAfter, TimeSpan StaleBehindBacklogAfter, int BatchSize, int MaxPerRound, TimeSpan MaxDrainTime);

/// <summary>
/// Announces again tasks Queued whose message is gone (queue purged or deleted, broker node lost, a worker stuck on its
/// prefetched deliveries); a task whose work message the outbox has not published yet is the relay's, not lost.
/// <para>
/// While no work message waits in the queue, every message published before that moment has reached a worker, so a
/// task still Queued after <see cref="StaleQueueLimits.StaleAfter"/> has none on its way: all such tasks are announced,
/// batch after batch (within <see cref="StaleQueueLimits.MaxPerRound"/> and <see cref="StaleQueueLimits.MaxDrainTime"/>),
/// so a purged queue of thousands comes back in a few rounds. While messages wait, a backlog is draining, which is not a
/// loss: announcing its tasks again would put a second message behind each of them, and another each
/// <c>StaleAfter</c> for as long as it lasts. Then only tasks Queued longer than
/// <see cref="StaleQueueLimits.StaleBehindBacklogAfter"/> are announced, one batch a round: a message lost behind a
/// backlog that does not drain is still found.
/// </para>
/// A duplicate is harmless: the claim lets only one delivery run the attempt. A task that cannot be moved holds back no
/// other (<see cref="RefusedTasks"/>).
/// </summary>
public sealed class RequeueStaleTasksHandler(IAppDbContext db, OutboxPublisher outbox, IWorkQueue workQueue, TimeProvider clock, RefusedTasks refusedTasks, ILogger<RequeueStaleTasksHandler> logger)
{
    public const string Step = "stale queued tasks";

    public async Task<int> HandleAsync(StaleQueueLimits limits, CancellationToken cancellationToken)
    {
        var draining = clock.GetTimestamp();
        var now = clock.GetUtcNow();
        var waiting = await workQueue.CountWaitingAsync(cancellationToken);
        var (age, maxTasks) = waiting == 0 ? (limits.StaleAfter, limits.MaxPerRound) : (limits.StaleBehindBacklogAfter, limits.BatchSize);
        var staleBefore = now - age;

        var count = 0;
        int moved;
        do
        {
            var size = Math.Min(limits.BatchSize, maxTasks - count);
            moved = await refusedTasks.RunAsync(Step, size, (batch, leftOut) => RequeueAsync(staleBefore, batch, leftOut, cancellationToken), logger);
            count += moved;
        }
        while (moved >= limits.BatchSize && count < maxTasks && !cancellationToken.IsCancellationRequested && clock.GetElapsedTime(draining) < limits.MaxDrainTime);

        if (count > 0)
        {
            logger.LogWarning("Queued {Count} tasks again that waited longer than {Age} for their message ({Waiting} work messages waiting in the queue)", count, age, waiting);
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
