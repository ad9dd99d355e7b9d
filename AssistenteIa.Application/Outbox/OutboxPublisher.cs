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
    /// The one publish loop, for the rows a process just saved and for those the relay claimed. All the rows go out on
    /// one channel in the order given, without waiting for a confirm in between
    /// (<see cref="IMessagePublisher.PublishInOrderAsync"/>), then the confirms are awaited together: every task's
    /// events reach every queue in order and its work message follows the event that announced it, and a batch costs
    /// one confirm wait, however many rows it has; a broker that never confirms costs one timeout. A row the broker did
    /// not confirm is marked failed, for the relay; when the channel fails, so do the rows after it. The caller saves
    /// the marks.
    /// </summary>
    /// <returns>How many rows the broker confirmed.</returns>
    public Task<int> PublishAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken) =>
        PublishAsync(publisher, clock, logger, messages, cancellationToken);

    /// <inheritdoc cref="PublishAsync(IReadOnlyList{OutboxMessage}, CancellationToken)"/>
    internal static async Task<int> PublishAsync(
        IMessagePublisher publisher, TimeProvider clock, ILogger logger, IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
    {
        if (messages.Count == 0)
        {
            return 0;
        }

        // One deadline for the whole call, shorter than the relay's grace period: a batch never outlasts it, so the
        // relay does not publish a row its writer is still publishing.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(PublishTimeout);
        IReadOnlyList<Exception?> results;
        try
        {
            results = await publisher.PublishInOrderAsync(messages, deadline.Token);
        }
        catch (Exception ex)
        {
            // Also when the caller stops: the rows may or may not have reached the broker; the relay publishes them again.
            results = [.. messages.Select(_ => ex)];
        }

        var sent = 0;
        var now = clock.GetUtcNow();
        Exception? firstError = null;
        for (var i = 0; i < messages.Count; i++)
        {
            if (results[i] is { } error)
            {
                messages[i].MarkFailed(error.Message);
                if (firstError is null)
                {
                    firstError = error;
                    logger.LogWarning(error, "Outbox message {OutboxMessageId} not published now; the relay will publish it (and its task's later rows, when this process leaves them to it)", messages[i].Id);
                }
            }
            else
            {
                messages[i].MarkSent(now);
                sent++;
            }
        }

        return sent;
    }
}
