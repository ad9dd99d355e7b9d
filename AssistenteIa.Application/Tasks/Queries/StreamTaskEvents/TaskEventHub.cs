using System.Collections.Concurrent;
using System.Threading.Channels;
using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;

/// <summary>A task event as it travels to the streams: its id (the outbox row's, or derived from it: <see cref="TaskEventRows"/>) is its resumable position.</summary>
public sealed record TaskEventEnvelope(Guid Id, Guid TaskId, string Type, string Json, DateTimeOffset At);

/// <summary>
/// Fans the events this API instance receives out to the streams open on it, by tenant (and task). In memory and
/// never blocking: a stream that does not keep up, or an interruption of the broker subscription feeding the hub,
/// marks a gap, and the stream fills it from the database (<see cref="TaskEventStream"/>). The broker feed is wanted
/// while at least one stream is open (<see cref="ILiveEventFeed"/>).
/// </summary>
public sealed class TaskEventHub(IOptions<TaskEventStreamOptions> options, ILiveEventFeed feed)
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Subscriber, byte>> _byTenant = new(StringComparer.Ordinal);

    /// <summary>Starts receiving the tenant's events (one task's only when <paramref name="taskId"/> is set); null when the tenant has too many streams open.</summary>
    public Subscriber? Subscribe(string tenantId, Guid? taskId)
    {
        var subscribers = _byTenant.GetOrAdd(tenantId, _ => new ConcurrentDictionary<Subscriber, byte>());
        Subscriber subscriber;

        // The count and the add as one step: streams opened at once would all count one less than the limit. A stream
        // closing meanwhile only makes the count high for a moment.
        lock (subscribers)
        {
            if (subscribers.Count >= options.Value.MaxStreamsPerTenant)
            {
                return null;
            }

            subscriber = new Subscriber(this, tenantId, taskId, options.Value.StreamBufferSize);
            subscribers.TryAdd(subscriber, 0);
        }

        feed.Acquire();
        return subscriber;
    }

    public void Publish(string tenantId, TaskEventEnvelope envelope)
    {
        if (!_byTenant.TryGetValue(tenantId, out var subscribers))
        {
            return;
        }

        foreach (var subscriber in subscribers.Keys)
        {
            if (subscriber.TaskId is null || subscriber.TaskId == envelope.TaskId)
            {
                subscriber.Offer(envelope);
            }
        }
    }

    /// <summary>Events may have been missed (the broker subscription was lost and is back): every stream catches up from the database.</summary>
    public void SignalGap()
    {
        foreach (var subscriber in _byTenant.Values.SelectMany(s => s.Keys))
        {
            subscriber.MarkGap();
        }
    }

    private void Remove(Subscriber subscriber)
    {
        if (_byTenant.TryGetValue(subscriber.TenantId, out var subscribers) && subscribers.TryRemove(subscriber, out _))
        {
            feed.Release();
        }
    }

    public sealed class Subscriber : IDisposable
    {
        /// <summary>Wakes a reader waiting on an empty buffer to look at <see cref="TakeGap"/>.</summary>
        internal static readonly TaskEventEnvelope Wake = new(Guid.Empty, Guid.Empty, "", "", default);

        private readonly TaskEventHub _hub;
        private readonly Channel<TaskEventEnvelope> _buffer;
        private int _gap;

        internal Subscriber(TaskEventHub hub, string tenantId, Guid? taskId, int bufferSize)
        {
            _hub = hub;
            TenantId = tenantId;
            TaskId = taskId;
            _buffer = Channel.CreateBounded<TaskEventEnvelope>(new BoundedChannelOptions(bufferSize) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        }

        public string TenantId { get; }

        public Guid? TaskId { get; }

        public ChannelReader<TaskEventEnvelope> Reader => _buffer.Reader;

        /// <summary>True once after events were dropped for this stream.</summary>
        public bool TakeGap() => Interlocked.Exchange(ref _gap, 0) == 1;

        public void Dispose() => _hub.Remove(this);

        internal void Offer(TaskEventEnvelope envelope)
        {
            if (!_buffer.Writer.TryWrite(envelope))
            {
                // The stream is behind by a whole buffer: it reads the rest from the database.
                Interlocked.Exchange(ref _gap, 1);
            }
        }

        internal void MarkGap()
        {
            Interlocked.Exchange(ref _gap, 1);
            _buffer.Writer.TryWrite(Wake);
        }
    }
}
