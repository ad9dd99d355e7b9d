using AssistenteIa.Application.Abstractions;
using AssistenteIa.Domain.Outbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Outbox;

/// <summary>
/// Publishes outbox rows right after the transaction that wrote them committed. A failure is not an
/// error for the caller: the row stays unsent and the dispatcher's relay publishes it later.
/// </summary>
public sealed class OutboxPublisher(IAppDbContext db, IMessagePublisher publisher, TimeProvider clock, ILogger<OutboxPublisher> logger)
{
    /// <summary>A confirm slower than this counts as a failure; the relay's grace period is longer, see <c>OutboxRelay</c>.</summary>
    public static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Saves the pending changes together with <paramref name="messages"/> in one transaction, then publishes them.
    /// Returns false, with tracked state forgotten, when another writer changed one of the rows first.
    /// </summary>
    public async Task<bool> SaveAndPublishAsync(IReadOnlyCollection<OutboxMessage> messages, CancellationToken cancellationToken)
    {
        db.OutboxMessages.AddRange(messages);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            db.ClearTracking();
            return false;
        }

        await PublishCommittedAsync(messages, cancellationToken);
        return true;
    }

    public async Task PublishCommittedAsync(IReadOnlyCollection<OutboxMessage> messages, CancellationToken cancellationToken)
    {
        if (messages.Count == 0)
        {
            return;
        }

        foreach (var message in messages)
        {
            // A broker that accepts the connection but never confirms must not hold the caller: give up and let the relay retry.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(PublishTimeout);
            try
            {
                await publisher.PublishAsync(message, timeout.Token);
                message.MarkSent(clock.GetUtcNow());
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Outbox message {OutboxMessageId} ({MessageType}) not published now; the relay will retry it and the rest of the batch", message.Id, message.MessageType);
                message.MarkFailed(ex.Message);

                // The broker is down or blocked: one timeout is enough, the relay publishes the rest.
                break;
            }
        }

        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Published but not marked: the relay publishes it again; consumers treat duplicates as no-ops.
            logger.LogWarning(ex, "Could not mark {Count} outbox messages as sent", messages.Count);
        }
    }
}
