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
    /// Publishes the rows the last saves wrote, a few side by side (as many as the publisher has channels), so that a
    /// broker that never confirms costs one timeout, not one per row; marks those the broker confirmed. After a
    /// group with a failure the rest is left unsent for the relay.
    /// </summary>
    public async Task PublishSavedAsync(CancellationToken cancellationToken)
    {
        var messages = db.TakeSavedOutboxMessages();
        if (messages.Count == 0)
        {
            return;
        }

        foreach (var group in messages.Chunk(ParallelPublishes))
        {
            var outcomes = await Task.WhenAll(group.Select(message => TryPublishAsync(message, cancellationToken)));
            foreach (var (message, error) in group.Zip(outcomes))
            {
                if (error is null)
                {
                    message.MarkSent(clock.GetUtcNow());
                }
                else
                {
                    message.MarkFailed(error.Message);
                }
            }

            if (outcomes.FirstOrDefault(e => e is not null) is { } failure)
            {
                logger.LogWarning(failure, "Outbox messages not published now; the relay will publish the {Count} of this save left unsent", messages.Count(m => m.SentAt is null));
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

    private async Task<Exception?> TryPublishAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        // A broker that accepts the connection but never confirms must not hold the caller: give up and let the relay retry.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(PublishTimeout);
        try
        {
            await publisher.PublishAsync(message, timeout.Token);
            return null;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            return ex;
        }
    }
}
