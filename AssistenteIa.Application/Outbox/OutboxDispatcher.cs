using System.Threading.Channels;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Outbox;

/// <summary>
/// Publishes, in the background, the outbox rows this process just committed, so a request answers and a worker
/// acknowledges as soon as the database has the change, not after the broker's confirms. Rows are taken in the order
/// they were handed over and published batch after batch through the one publish loop
/// (<see cref="OutboxPublisher.PublishAsync(IReadOnlyList{OutboxMessage}, CancellationToken)"/>): one task's rows
/// one after another, different tasks' side by side; the marks of what went out are written by
/// <see cref="OutboxSentMarks"/>. What is not published here (broker down, queue full, a row waiting too long, the
/// process gone) stays unsent in the table for the relay, whose grace period this never reaches.
/// </summary>
public sealed class OutboxDispatcher(IMessagePublisher publisher, OutboxSentMarks marks, TimeProvider clock, ILogger<OutboxDispatcher> logger)
{
    /// <summary>Rows waiting at most; past it a row is left to the relay.</summary>
    public const int MaxQueued = 20_000;

    /// <summary>Rows published by one round of the loop at most.</summary>
    public const int MaxBatch = 500;

    /// <summary>
    /// A row older than this when its turn comes is left to the relay. With the publish timeout after it, that stays
    /// within the relay's grace period (<c>OutboxRelay.GracePeriod</c>): the two never publish a row at the same time.
    /// </summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(2);

    private readonly Channel<OutboxMessage> _queue = Channel.CreateBounded<OutboxMessage>(
        new BoundedChannelOptions(MaxQueued) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });

    private int _dropped;

    /// <summary>Queues committed rows for publishing; never waits. A row that does not fit is left to the relay.</summary>
    public void Enqueue(IReadOnlyList<OutboxMessage> messages)
    {
        foreach (var message in messages)
        {
            if (!_queue.Writer.TryWrite(message) && Interlocked.Increment(ref _dropped) == 1)
            {
                logger.LogWarning("The outbox dispatch queue is full ({MaxQueued} rows) or stopped; the relay publishes what does not fit", MaxQueued);
            }
        }
    }

    /// <summary>Publishes batch after batch until <see cref="Complete"/>, then what is still queued.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var batch = new List<OutboxMessage>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var message))
            {
                batch.Add(message);
            }

            await PublishAsync(batch, cancellationToken);
            batch.Clear();
            Interlocked.Exchange(ref _dropped, 0);
        }
    }

    /// <summary>No row is accepted after this; <see cref="RunAsync"/> ends once the queued ones are published (or left).</summary>
    public void Complete() => _queue.Writer.TryComplete();

    private async Task PublishAsync(List<OutboxMessage> batch, CancellationToken cancellationToken)
    {
        // A row that waited too long (a slow broker, a stopping host) is not tried: the relay may already be on it.
        var now = clock.GetUtcNow();
        var due = batch.Where(m => now - m.CreatedAt < MaxWait && !cancellationToken.IsCancellationRequested).ToList();
        if (due.Count < batch.Count)
        {
            logger.LogWarning("{Count} outbox messages waited too long to be published here; the relay publishes them", batch.Count - due.Count);
        }

        if (due.Count == 0)
        {
            return;
        }

        try
        {
            await OutboxPublisher.PublishAsync(publisher, clock, logger, due, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // The loop catches per row; this is only a safety net so the dispatcher keeps running.
            logger.LogError(ex, "Publishing {Count} outbox messages failed; the relay publishes them", due.Count);
            return;
        }

        marks.Add(due.Where(m => m.SentAt is not null).Select(m => m.Id));
    }
}
