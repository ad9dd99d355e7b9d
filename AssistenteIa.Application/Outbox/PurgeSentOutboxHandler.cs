using AssistenteIa.Application.Ports.Out;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Outbox;

/// <summary>Deletes outbox rows sent longer ago than the retention, in bounded batches, so the table does not grow forever.</summary>
public sealed class PurgeSentOutboxHandler(IAppDbContext db, TimeProvider clock, ILogger<PurgeSentOutboxHandler> logger)
{
    private const int BatchSize = 5_000;

    /// <summary>One run deletes batch after batch up to this long, so a busy outbox (several rows per task) keeps up.</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(5);

    public async Task<int> HandleAsync(TimeSpan retention, CancellationToken cancellationToken)
    {
        var started = clock.GetTimestamp();
        var sentBefore = clock.GetUtcNow() - retention;
        var total = 0;
        int deleted;
        do
        {
            deleted = await db.OutboxMessages
                .Where(m => m.SentAt != null && m.SentAt < sentBefore)
                .OrderBy(m => m.SentAt)
                .Take(BatchSize)
                .ExecuteDeleteAsync(cancellationToken);
            total += deleted;
        }
        while (deleted == BatchSize && clock.GetElapsedTime(started) < Budget);

        if (total > 0)
        {
            logger.LogInformation("Purged {Count} outbox messages sent before {SentBefore}", total, sentBefore);
        }

        return total;
    }
}
