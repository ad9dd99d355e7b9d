using AssistenteIa.Application.Abstractions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Outbox;

/// <summary>Deletes outbox rows sent longer ago than the retention, in bounded batches, so the table does not grow forever.</summary>
public sealed class PurgeSentOutboxHandler(IAppDbContext db, TimeProvider clock, ILogger<PurgeSentOutboxHandler> logger)
{
    private const int BatchSize = 5_000;

    public async Task<int> HandleAsync(TimeSpan retention, CancellationToken cancellationToken)
    {
        var sentBefore = clock.GetUtcNow() - retention;
        var deleted = await db.OutboxMessages
            .Where(m => m.SentAt != null && m.SentAt < sentBefore)
            .OrderBy(m => m.SentAt)
            .Take(BatchSize)
            .ExecuteDeleteAsync(cancellationToken);
        if (deleted > 0)
        {
            logger.LogInformation("Purged {Count} outbox messages sent before {SentBefore}", deleted, sentBefore);
        }

        return deleted;
    }
}
