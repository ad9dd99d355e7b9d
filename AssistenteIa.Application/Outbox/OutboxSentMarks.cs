using System.Threading.Channels;
using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Outbox;

/// <summary>
/// Records "published" on the outbox rows that requests and workers published right after their commit, many rows
/// in one statement: one commit per batch instead of one per request. Marking later is safe: until a row is marked,
/// only the relay could publish it again, and it waits <c>OutboxRelay.GracePeriod</c> (seconds) before it looks at
/// a row, while a batch is written within tens of milliseconds. A mark lost with the process, or one the database refused,
/// means one more publish of that row by the relay, which consumers already treat as a duplicate; so is a mark lost
/// with a database crash, which is why a batch's commit does not wait for the disk
/// (<see cref="IAppDbContext.MarkOutboxSentAsync"/>): on the idle path the marks' flushes queued behind, or ahead of,
/// the next claim's and outcome's flushes.
/// </summary>
/// <param name="linger">
/// How long a batch waits for more rows after its first one (<see cref="DefaultLinger"/> unless a test says otherwise).
/// </param>
public sealed class OutboxSentMarks(IServiceScopeFactory scopes, TimeProvider clock, ILogger<OutboxSentMarks> logger, TimeSpan? linger = null)
{
    /// <summary>Rows marked by one statement at most.</summary>
    public const int MaxBatch = 1_000;

    /// <summary>
    /// Without it a batch held what arrived while the previous one was written: 2.6 rows a statement under load, the
    /// platform's most expensive statement by total time (pg_stat_statements), each one a round trip and a commit.
    /// Marks are never on a task's path and the relay waits seconds, so 20 ms later costs nothing.
    /// </summary>
    public static readonly TimeSpan DefaultLinger = TimeSpan.FromMilliseconds(20);

    private readonly TimeSpan _linger = linger is { } given && given < TimeSpan.Zero
        ? throw new ArgumentOutOfRangeException(nameof(linger), given, "A batch cannot wait less than no time.")
        : linger ?? DefaultLinger;

    // Not SingleReader: that channel cannot count what it holds, which the writer asks before it waits.
    private readonly Channel<Guid> _pending = Channel.CreateUnbounded<Guid>();
    private readonly TaskCompletionSource _completing = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Queues the rows to be marked by the next batch; never waits on the database.</summary>
    public void Add(IEnumerable<Guid> ids)
    {
        foreach (var id in ids)
        {
            // Only fails once the writer completed (the host is stopping): the relay publishes that row again.
            _pending.Writer.TryWrite(id);
        }
    }

    /// <summary>Writes batches as rows arrive until <see cref="Complete"/> and the rows queued before it are written.</summary>
    public async Task RunAsync()
    {
        var batch = new List<Guid>(MaxBatch);
        while (await _pending.Reader.WaitToReadAsync(CancellationToken.None))
        {
            if (_pending.Reader.Count < MaxBatch)
            {
                // A backlog of a whole batch or more is written at once: waiting would only let it grow.
                await LingerAsync();
            }

            while (batch.Count < MaxBatch && _pending.Reader.TryRead(out var id))
            {
                batch.Add(id);
            }

            await WriteAsync(batch);
            batch.Clear();
        }
    }

    /// <summary>No row is accepted after this; <see cref="RunAsync"/> ends once the queued ones are written.</summary>
    public void Complete()
    {
        _pending.Writer.TryComplete();
        _completing.TrySetResult();
    }

    /// <summary>Lets more rows join the batch, unless the host is stopping: then what is queued is written at once.</summary>
    private Task LingerAsync() => Task.WhenAny(Task.Delay(_linger, clock), _completing.Task);

    private async Task WriteAsync(List<Guid> ids)
    {
        var now = clock.GetUtcNow();
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<IAppDbContext>();

            await db.MarkOutboxSentAsync(ids, now, CancellationToken.None);
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Could not mark {Count} published outbox messages as sent; the relay will publish them again", ids.Count);
        }
    }
}
