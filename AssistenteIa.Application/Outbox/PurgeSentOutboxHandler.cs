using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Outbox;

/// <summary>
/// Deletes outbox rows sent longer ago than the retention by the database's clock (not this process's, which may be
/// off), in bounded batches, so the table does not grow forever.
/// </summary>
public sealed class PurgeSentOutboxHandler(IAppDbContext db, TimeProvider clock, ILogger<PurgeSentOutboxHandler> logger)
{
    private const int BatchSize = 5_000;

    /// <summary>One run deletes batch after batch up to this long, so a busy outbox (several rows per task) keeps up.</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(5);

    public async Task<int> HandleAsync(TimeSpan retention, CancellationToken cancellationToken)
    {
        var started = clock.GetTimestamp();
        var total = 0;
        int deleted;
        do
        {
            deleted = await db.PurgeSentOutboxAsync(retention, BatchSize, cancellationToken);
            total += deleted;
        }
        while (deleted == BatchSize && clock.GetElapsedTime(started) < Budget);

        if (total > 0)
        {
            logger.LogInformation("Purged {Count} outbox messages sent more than {Retention} ago", total, retention);
        }

        return total;
    }
}
