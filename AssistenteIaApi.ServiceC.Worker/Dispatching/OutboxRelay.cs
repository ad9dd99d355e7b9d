using AssistenteIa.Application.Outbox;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIaApi.ServiceC.Worker.Dispatching;

/// <summary>
/// Publishes outbox rows left unsent (broker down at commit, process killed between commit and publish).
/// A batch is claimed in one committed statement (<c>ClaimedUntil</c>, rows picked with <c>FOR UPDATE SKIP LOCKED</c>),
/// so several relays never take the same row and no row lock is held while publishing over the network. The rows go
/// out through the same loop as a request's own (<see cref="OutboxPublisher.PublishAsync"/>).
/// </summary>
public sealed class OutboxRelay(AppDbContext db, OutboxPublisher outboxPublisher, ILogger<OutboxRelay> logger)
{
    /// <summary>
    /// Rows younger than this are left to the process that wrote them, which publishes them in the background right
    /// after commit: it starts no row older than <see cref="OutboxDispatcher.MaxWait"/> and gives up on one after
    /// <see cref="OutboxPublisher.PublishTimeout"/>. The margin on top covers clocks that differ between the writer
    /// and the database and a writer stalled between the two checks, so the relay does not publish a row the writer
    /// is still publishing.
    /// </summary>
    public static readonly TimeSpan GracePeriod = OutboxDispatcher.MaxWait + OutboxPublisher.PublishTimeout + TimeSpan.FromSeconds(5);

    /// <summary>How long a claim keeps other relays away; a relay that died mid-batch frees its rows after it.</summary>
    public static readonly TimeSpan ClaimDuration = TimeSpan.FromMinutes(1);

    public async Task<int> RelayAsync(int batchSize, CancellationToken cancellationToken)
    {
        var rows = (await db.OutboxMessages
            .FromSql($"""
                UPDATE "OutboxMessages" SET "ClaimedUntil" = now() + {ClaimDuration}
                WHERE "Id" IN (
                    SELECT "Id" FROM "OutboxMessages"
                    WHERE "SentAt" IS NULL AND "CreatedAt" <= now() - {GracePeriod} AND ("ClaimedUntil" IS NULL OR "ClaimedUntil" < now())
                    ORDER BY "CreatedAt", "EventSequence" NULLS LAST
                    LIMIT {batchSize}
                    FOR UPDATE SKIP LOCKED)
                RETURNING *
                """)
            .ToListAsync(cancellationToken))
            .OrderBy(r => r.CreatedAt)
            .ThenBy(r => r.EventSequence ?? long.MaxValue)
            .ToList();
        if (rows.Count == 0)
        {
            return 0;
        }

        var sent = await outboxPublisher.PublishAsync(rows, cancellationToken);

        // Not the caller's token: what was published must be marked, or it is published again after the claim expires.
        await db.SaveChangesAsync(CancellationToken.None);
        if (sent > 0)
        {
            logger.LogInformation("Relayed {Count} outbox messages", sent);
        }

        return sent;
    }
}
