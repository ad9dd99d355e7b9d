using System.Runtime.CompilerServices;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;

public enum StreamItemKind
{
    Event,

    /// <summary>Nothing happened for a while: a comment keeps the connection alive.</summary>
    Heartbeat,

    /// <summary>The stream cannot tell what the client missed (position unknown or expired, too far behind): reload the state.</summary>
    Resync,
}

public readonly record struct StreamItem(StreamItemKind Kind, TaskEventEnvelope? Event = null);

/// <summary>
/// One client's stream of a tenant's (or one task's) events: live from the <see cref="TaskEventHub"/>, and from the
/// outbox rows whenever the live feed may have a hole: on reconnect after <c>Last-Event-ID</c>, after the hub's broker
/// subscription came back, after the client fell a whole buffer behind. Events are at least once: a catch-up may
/// repeat one the client already has; one task's events carry <c>sequence</c> to order and dedupe them.
/// </summary>
public sealed class TaskEventStream(TaskEventHub hub, IServiceScopeFactory scopes, TimeProvider clock, IOptions<TaskEventStreamOptions> options) : IDisposable
{
    private const int PageSize = 500;

    private readonly TaskEventStreamOptions _settings = options.Value;

    /// <summary>
    /// Database reads of this instance's streams at once (<see cref="TaskEventStreamOptions.MaxConcurrentCatchUps"/>),
    /// and of one tenant's (<see cref="TaskEventStreamOptions.MaxConcurrentCatchUpsPerTenant"/>).
    /// </summary>
    private readonly CatchUpTurns _reads = new(options.Value.MaxConcurrentCatchUps, options.Value.MaxConcurrentCatchUpsPerTenant);

    /// <summary>Registers the stream before anything is read, so no event falls between the catch-up and the live feed; null when over the tenant's limit.</summary>
    public TaskEventHub.Subscriber? Open(string tenantId, Guid? taskId) => hub.Subscribe(tenantId, taskId);

    public async IAsyncEnumerable<StreamItem> ReadAsync(
        TaskEventHub.Subscriber subscription, string? lastEventId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var sent = new RecentIds(capacity: 4096);
        DateTimeOffset position;
        var catchUpFirst = true;
        if (Guid.TryParse(lastEventId, out var lastId) && await FindAsync(subscription, lastId, cancellationToken) is { } last)
        {
            position = last.At;

            // The client has the event and those before it in its row (one save's events share one: TaskEventRows).
            foreach (var id in last.ThroughEventIds)
            {
                sent.Add(id);
            }
        }
        else
        {
            if (!string.IsNullOrEmpty(lastEventId))
            {
                yield return new StreamItem(StreamItemKind.Resync);
            }

            // A task's stream starts with what is kept of its history; the tenant's stream with what happens next.
            position = subscription.TaskId is null ? clock.GetUtcNow() : DateTimeOffset.MinValue;
            catchUpFirst = subscription.TaskId is not null;
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            if (catchUpFirst | subscription.TakeGap())
            {
                catchUpFirst = false;
                var (events, complete) = await CatchUpAsync(subscription, position, sent, cancellationToken);
                foreach (var taskEvent in events)
                {
                    position = Max(position, taskEvent.At);
                    yield return new StreamItem(StreamItemKind.Event, taskEvent);
                }

                if (!complete)
                {
                    position = clock.GetUtcNow();
                    yield return new StreamItem(StreamItemKind.Resync);
                }
            }

            while (subscription.Reader.TryRead(out var taskEvent))
            {
                if (!ReferenceEquals(taskEvent, TaskEventHub.Subscriber.Wake) && sent.Add(taskEvent.Id))
                {
                    position = Max(position, taskEvent.At);
                    yield return new StreamItem(StreamItemKind.Event, taskEvent);
                }
            }

            if (!await WaitAsync(subscription, cancellationToken))
            {
                yield return new StreamItem(StreamItemKind.Heartbeat);
            }
        }
    }

    /// <summary>True when something arrived; false after a heartbeat interval of silence.</summary>
    private async Task<bool> WaitAsync(TaskEventHub.Subscriber subscription, CancellationToken cancellationToken)
    {
        using var heartbeat = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        heartbeat.CancelAfter(_settings.HeartbeatInterval);
        try
        {
            return await subscription.Reader.WaitToReadAsync(heartbeat.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The stored event <paramref name="eventId"/> of this stream's tenant (and task): its time, and its id with the ids before it in its row; null when it is not stored.</summary>
    private async Task<(DateTimeOffset At, IReadOnlyList<Guid> ThroughEventIds)?> FindAsync(TaskEventHub.Subscriber subscription, Guid eventId, CancellationToken cancellationToken)
    {
        var (rowId, index) = TaskEventRows.RowIdOf(eventId);
        using var turn = await _reads.TakeAsync(subscription.TenantId, cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<IAppDbContext>();
        var rows = await db.OutboxMessages.AsNoTracking()
            .Where(m => (m.Id == eventId || m.Id == rowId) && m.Destination == Queues.TaskEvents && m.TenantId == subscription.TenantId)
            .Where(m => subscription.TaskId == null || m.TaskId == subscription.TaskId)
            .Select(m => new { m.Id, m.MessageType, m.PayloadJson, m.CreatedAt })
            .ToListAsync(cancellationToken);
        if (rows.Find(r => r.Id == eventId && r.MessageType != Queues.TaskEventsOfOneSaveType) is { } single)
        {
            return (single.CreatedAt, [eventId]);
        }

        if (rows.Find(r => r.Id == rowId && r.MessageType == Queues.TaskEventsOfOneSaveType) is { } ofOneSave
            && TaskEventRows.Events(ofOneSave.Id, ofOneSave.MessageType, ofOneSave.PayloadJson) is { } events && index < events.Count)
        {
            return (ofOneSave.CreatedAt, [.. events.Take(index + 1).Select(e => e.Id)]);
        }

        return null;
    }

    /// <summary>The stored events from a little before <paramref name="position"/> that this stream has not sent, oldest first; not complete when more than the replay limit.</summary>
    private async Task<(List<TaskEventEnvelope> Events, bool Complete)> CatchUpAsync(
        TaskEventHub.Subscriber subscription, DateTimeOffset position, RecentIds sent, CancellationToken cancellationToken)
    {
        var events = new List<TaskEventEnvelope>();
        var from = position == DateTimeOffset.MinValue ? position : position - _settings.ReplayOverlap;
        using var turn = await _reads.TakeAsync(subscription.TenantId, cancellationToken);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<IAppDbContext>();
        while (true)
        {
            var query = db.OutboxMessages.AsNoTracking()
                .Where(m => m.Destination == Queues.TaskEvents && m.TenantId == subscription.TenantId && m.CreatedAt >= from);
            if (subscription.TaskId is { } taskId)
            {
                query = query.Where(m => m.TaskId == taskId);
            }

            // One save can record several events of a task at one instant (created, queued): its sequence orders them.
            var page = await query
                .OrderBy(m => m.CreatedAt).ThenBy(m => m.TaskId).ThenBy(m => m.EventSequence)
                .Take(PageSize)
                .Select(m => new { m.Id, m.TaskId, m.MessageType, m.PayloadJson, m.CreatedAt })
                .ToListAsync(cancellationToken);
            events.AddRange(page
                .SelectMany(m => TaskEventRows.Events(m.Id, m.MessageType, m.PayloadJson)
                    .Select(e => new TaskEventEnvelope(e.Id, m.TaskId ?? Guid.Empty, e.Type, e.Json, m.CreatedAt)))
                .Where(e => sent.Add(e.Id)));
            if (events.Count > _settings.ReplayLimit)
            {
                return (events[.._settings.ReplayLimit], false);
            }

            if (page.Count < PageSize)
            {
                return (events, true);
            }

            // Rows sharing the page's last timestamp are read again and skipped as sent; a page of one timestamp cannot move on.
            if (page[^1].CreatedAt == from)
            {
                return (events, false);
            }

            from = page[^1].CreatedAt;
        }
    }

    public void Dispose() => _reads.Dispose();

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    /// <summary>The ids sent lately, to skip them when a catch-up reads the overlap again.</summary>
    private sealed class RecentIds(int capacity)
    {
        private readonly HashSet<Guid> _set = [];
        private readonly Queue<Guid> _order = new();

        public bool Add(Guid id)
        {
            if (!_set.Add(id))
            {
                return false;
            }

            _order.Enqueue(id);
            if (_order.Count > capacity)
            {
                _set.Remove(_order.Dequeue());
            }

            return true;
        }
    }
}
