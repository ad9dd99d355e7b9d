using AssistenteIa.Application.Abstractions;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// Publishes outbox rows left unsent (broker down at commit, process killed between commit and publish).
/// Rows are locked with <c>FOR UPDATE SKIP LOCKED</c> for the whole batch, so several relays never publish
/// the same row at the same time.
/// </summary>
public sealed class OutboxRelay(AppDbContext db, IMessagePublisher publisher, TimeProvider clock, ILogger<OutboxRelay> logger)
{
    /// <summary>Rows younger than this are left to the process that wrote them, which publishes right after commit.</summary>
    public static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(2);

    public async Task<int> RelayAsync(int batchSize, CancellationToken cancellationToken)
    {
        var olderThan = clock.GetUtcNow() - GracePeriod;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var rows = await db.OutboxMessages
            .FromSql($"""
                SELECT * FROM "OutboxMessages"
                WHERE "SentAt" IS NULL AND "CreatedAt" <= {olderThan}
                ORDER BY "CreatedAt"
                LIMIT {batchSize}
                FOR UPDATE SKIP LOCKED
                """)
            .ToListAsync(cancellationToken);
        if (rows.Count == 0)
        {
            return 0;
        }

        var sent = 0;
        foreach (var row in rows)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(OutboxPublisher.PublishTimeout);
            try
            {
                await publisher.PublishAsync(row, timeout.Token);
                row.MarkSent(clock.GetUtcNow());
                sent++;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                row.MarkFailed(ex.Message);
                logger.LogWarning(ex, "Relay could not publish outbox message {OutboxMessageId}; will retry", row.Id);
                break;
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        if (sent > 0)
        {
            logger.LogInformation("Relayed {Count} outbox messages", sent);
        }

        return sent;
    }

}
