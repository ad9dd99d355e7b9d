using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Outbox;

/// <summary>
/// Publishes outbox rows right after the transaction that wrote them committed. A failure is not an
/// error for the caller: the row stays unsent and the dispatcher's relay publishes it later.
/// </summary>
/// <param name="dispatcher">
/// Where saved rows are handed to be published in the background, so no request or worker step waits for the broker's
/// confirms; without it (tests of the publish loop) they are published and marked before the call returns.
/// </param>
public sealed class OutboxPublisher(IAppDbContext db, IMessagePublisher publisher, TimeProvider clock, ILogger<OutboxPublisher> logger, OutboxDispatcher? dispatcher = null)
{
    /// <summary>A confirm slower than this counts as a failure; the relay's grace period is longer, see <c>OutboxRelay</c>.</summary>
    public static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Publishes in flight at once: the publisher's channel pool, so no timeout runs while a row waits for a channel.</summary>
    public const int ParallelPublishes = 8;

    /// <summary>
    /// Saves the pending changes (the tasks' events become outbox rows in the same transaction), then publishes them.
    /// Returns false, with tracked state forgotten, when another writer changed one of the rows first.
    /// </summary>
    public async Task<bool> SaveAndPublishAsync(CancellationToken cancellationToken)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            db.ClearTracking();
            return false;
        }

        await PublishSavedAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Publishes the rows the last saves wrote: hands them to the background dispatcher (in the order written, so one
    /// task's rows keep their order), or, without one, publishes them here (see <c>PublishAsync</c>) and saves
    /// which went out.
    /// </summary>
    public async Task PublishSavedAsync(CancellationToken cancellationToken)
    {
        var messages = db.TakeSavedOutboxMessages();
        if (messages.Count == 0)
        {
            return;
        }

        if (dispatcher is not null)
        {
            // The context forgets the rows: their marks are written by the dispatcher, never by a later save of this one.
            db.Forget(messages);
            dispatcher.Enqueue(messages);
            return;
        }

        await PublishAsync(messages, cancellationToken);
        try
        {
            // Not the caller's token: what was published must be marked, or the relay publishes it again.
            await db.SaveChangesAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Published but not marked: the relay publishes it again; consumers treat duplicates as no-ops.
            logger.LogWarning(ex, "Could not mark {Count} outbox messages as sent", messages.Count);
        }
    }

    /// <summary>
    /// The one publish loop, for the rows a process just saved and for those the relay claimed. One task's rows go out
    /// in the order given, on one channel (<see cref="IMessagePublisher.PublishInOrderAsync"/>), so its events reach
    /// every queue in order and its work message follows the event that announced it; different tasks' rows go side
    /// by side (as many as the publisher has channels), so a broker that never confirms costs one timeout, not one per
    /// row. After a failure no new task's rows are started: failed rows are marked so, the rest released unsent, for
    /// the relay. The caller saves the marks.
    /// </summary>
    /// <returns>How many rows the broker confirmed.</returns>
    public Task<int> PublishAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken) =>
        PublishAsync(publisher, clock, logger, messages, cancellationToken);

    /// <inheritdoc cref="PublishAsync(IReadOnlyList{OutboxMessage}, CancellationToken)"/>
    internal static async Task<int> PublishAsync(
        IMessagePublisher publisher, TimeProvider clock, ILogger logger, IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
    {
        // One deadline for the whole call, shorter than the relay's grace period: a chain of one task's rows never
        // outlasts it, so the relay does not publish a row its writer is still publishing.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(PublishTimeout);
        cancellationToken = deadline.Token;
        var sent = 0;
        var failed = 0;
        await Parallel.ForEachAsync(
            messages.GroupBy(m => m.TaskId ?? m.Id),
            new ParallelOptions { MaxDegreeOfParallelism = ParallelPublishes, CancellationToken = CancellationToken.None },
            async (chain, _) =>
            {
                var rows = chain.ToList();
                if (Volatile.Read(ref failed) > 0 || cancellationToken.IsCancellationRequested)
                {
                    rows.ForEach(row => row.ReleaseClaim());
                    return;
                }

                IReadOnlyList<Exception?> results;
                try
                {
                    results = await publisher.PublishInOrderAsync(rows, cancellationToken);
                }
                catch (Exception ex)
                {
                    // Also when the caller stops: the rows may or may not have reached the broker; the relay publishes them again.
                    results = [.. rows.Select(_ => ex)];
                }

                for (var i = 0; i < rows.Count; i++)
                {
                    if (results[i] is { } error)
                    {
                        rows[i].MarkFailed(error.Message);
                        if (Interlocked.Increment(ref failed) == 1)
                        {
                            logger.LogWarning(error, "Outbox message {OutboxMessageId} not published now; the relay will publish it and the rows after it", rows[i].Id);
                        }
                    }
                    else
                    {
                        rows[i].MarkSent(clock.GetUtcNow());
                        Interlocked.Increment(ref sent);
                    }
                }
            });
        return sent;
    }
}
