using System.Collections.Concurrent;
using System.Threading.Channels;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Outbox;

/// <summary>
/// Publishes, in the background, the outbox rows this process just committed, so a request answers and a worker
/// acknowledges as soon as the database has the change, not after the broker's confirms. Rows are taken in the order
/// they were handed over and published batch after batch through the one publish loop
/// (<see cref="OutboxPublisher.PublishAsync(IReadOnlyList{OutboxMessage}, CancellationToken)"/>): a batch is the
/// saves that arrived while the previous one waited for its confirms, whole saves only (a task's work message never
/// waits a confirm behind the event saved with it), up to <see cref="MaxBatch"/> rows, all of it sent in order on one
/// channel, so the rate grows with the load at one confirm wait per batch; the marks of what went out are written by
/// <see cref="OutboxSentMarks"/>. A save of more than <see cref="MaxBatch"/> rows goes alone, under one publish
/// timeout: the platform's saves hold a few rows, the dispatcher's scheduling rounds at most a few hundred.
/// What is not published here (broker down, queue full, a row waiting too long, the process gone) stays unsent in the
/// table for the relay, whose grace period this never reaches. Once one row of a task is left to the relay, so are
/// that task's next rows for a while (<see cref="DeferFor"/>): the relay publishes them all in the order written, and
/// a later event never overtakes an earlier one.
/// </summary>
public sealed class OutboxDispatcher(IMessagePublisher publisher, OutboxSentMarks marks, TimeProvider clock, ILogger<OutboxDispatcher> logger)
{
    /// <summary>Rows waiting at most; a save that does not fit whole is left to the relay.</summary>
    public const int MaxQueued = 20_000;

    /// <summary>Rows published by one round of the loop at most (a save that has more goes alone).</summary>
    public const int MaxBatch = 500;

    /// <summary>
    /// A row older than this when its turn comes is left to the relay. With the publish timeout after it, that stays
    /// within the relay's grace period (<c>OutboxRelay.GracePeriod</c>): the two never publish a row at the same time.
    /// </summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(2);

    /// <summary>How long a task whose row was left to the relay has its next rows left to it too.</summary>
    public static readonly TimeSpan DeferFor = TimeSpan.FromMinutes(2);

    /// <summary>Tasks remembered as deferred at most (expired ones are forgotten first; past it, the oldest).</summary>
    public const int MaxDeferredTasks = 100_000;

    // One entry per save: the loop never wakes up to a save's first row alone, so a task's work message goes out with
    // the event before it, not one confirm wait later.
    private readonly Channel<IReadOnlyList<OutboxMessage>> _queue = Channel.CreateUnbounded<IReadOnlyList<OutboxMessage>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<Guid, long> _deferredUntil = new();
    private readonly Lock _admission = new();
    private int _queued;
    private bool _completed;

    /// <summary>
    /// Queues one save's committed rows for publishing; never waits. A save that does not fit whole (or arrives after
    /// <see cref="Complete"/>) is left to the relay, and its tasks' next rows with it.
    /// </summary>
    public void Enqueue(IReadOnlyList<OutboxMessage> messages)
    {
        lock (_admission)
        {
            if (!_completed && _queued + messages.Count <= MaxQueued)
            {
                _queued += messages.Count;
                _queue.Writer.TryWrite(messages);
                return;
            }
        }

        logger.LogWarning("The outbox dispatch queue is full ({MaxQueued} rows) or stopped; the relay publishes {Count} rows", MaxQueued, messages.Count);
        Defer(messages);
    }

    /// <summary>Publishes batch after batch until <see cref="Complete"/>, then what is still queued.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var batch = new List<OutboxMessage>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            // Whole saves, up to MaxBatch rows (a bigger save goes alone).
            while ((batch.Count == 0 || (_queue.Reader.TryPeek(out var next) && batch.Count + next.Count <= MaxBatch))
                && _queue.Reader.TryRead(out var save))
            {
                batch.AddRange(save);
            }

            lock (_admission)
            {
                _queued -= batch.Count;
            }

            await PublishAsync(batch, cancellationToken);
            batch.Clear();
        }
    }

    /// <summary>No row is accepted after this; <see cref="RunAsync"/> ends once the queued ones are published (or left).</summary>
    public void Complete()
    {
        lock (_admission)
        {
            _completed = true;
            _queue.Writer.TryComplete();
        }
    }

    private async Task PublishAsync(List<OutboxMessage> batch, CancellationToken cancellationToken)
    {
        // A task goes whole or not at all: when one of its rows waited too long (a slow broker, a stopping host) or an
        // earlier row of it was left to the relay, none of its rows is tried here; the relay may already be on them.
        var now = clock.GetUtcNow();
        var nowTicks = clock.GetTimestamp();
        var left = new List<OutboxMessage>();
        var due = new List<OutboxMessage>(batch.Count);
        foreach (var task in batch.GroupBy(ChainOf))
        {
            var stale = cancellationToken.IsCancellationRequested
                || (_deferredUntil.TryGetValue(task.Key, out var until) && until > nowTicks)
                || task.Any(m => now - m.CreatedAt >= MaxWait || m.CreatedAt - now >= MaxWait);
            (stale ? left : due).AddRange(task);
        }

        if (left.Count > 0)
        {
            logger.LogWarning("{Count} outbox messages are left to the relay (waited too long, or an earlier row of their task was)", left.Count);
            Defer(left);
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
        }

        marks.Add(due.Where(m => m.SentAt is not null).Select(m => m.Id));
        Defer(due.Where(m => m.SentAt is null));
    }

    private void Defer(IEnumerable<OutboxMessage> messages)
    {
        var until = clock.GetTimestamp() + (long)(DeferFor.TotalSeconds * clock.TimestampFrequency);
        foreach (var chain in messages.Select(ChainOf).Distinct())
        {
            _deferredUntil[chain] = until;
        }

        if (_deferredUntil.Count > MaxDeferredTasks)
        {
            var nowTicks = clock.GetTimestamp();
            foreach (var expired in _deferredUntil.Where(d => d.Value <= nowTicks).ToList())
            {
                _deferredUntil.TryRemove(expired);
            }

            foreach (var oldest in _deferredUntil.OrderBy(d => d.Value).Take(_deferredUntil.Count - MaxDeferredTasks).ToList())
            {
                _deferredUntil.TryRemove(oldest);
            }
        }
    }

    private static Guid ChainOf(OutboxMessage message) => message.TaskId ?? message.Id;
}
