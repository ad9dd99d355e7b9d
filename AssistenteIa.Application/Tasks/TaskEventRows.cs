using System.Text.Json;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Events;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks;

/// <summary>
/// How the task events of one save are stored in the outbox and read back. A save that records one event stores it as
/// it is published: type <c>task.&lt;event&gt;</c>, the body of one <see cref="TaskEventMessage"/>, the row's id the
/// event's id. A save that records several (a create: <c>created</c> + <c>queued</c>; a claim: <c>reserved</c> +
/// <c>started</c>) stores them in one row of type <see cref="Queues.TaskEventsOfOneSaveType"/>, whose body is
/// <c>{"events": [the events without the task], "task": {the task as the save left it}}</c> (the task once, not once an
/// event: its JSON is most of a body, and Postgres parses every byte of a <c>jsonb</c> insert), and whose
/// <see cref="OutboxMessage.EventSequence"/> is the first event's: a concurrent save from the same read takes that
/// number too, and the unique index refuses it. The row is published, and replayed, as one message per event, each
/// with the task (<see cref="Events(OutboxMessage)"/>).
/// <para>
/// Each stored row costs the database an insert with three index entries and the listeners' trigger: one row a save
/// instead of one an event is three rows a task instead of five.
/// </para>
/// <para>
/// Event ids: a row of several events has an id whose last hex digit is 0, and the id of its event <c>k</c> is that id
/// with <c>k</c> as its last digit. So the events keep the ids they were published with when they are replayed, and an
/// event's id finds its row (<see cref="RowIdOf"/>).
/// </para>
/// </summary>
public static class TaskEventRows
{
    /// <summary>The events one row holds at most (their ids differ in one hex digit); a save that records more stores more rows.</summary>
    public const int MaxEvents = 16;

    /// <summary>The row of <paramref name="events"/> (at least one, at most <see cref="MaxEvents"/>), recorded by one save of <paramref name="task"/>.</summary>
    public static OutboxMessage Row(AiTask task, IReadOnlyList<TaskEvent> events, TaskDto summary, string? traceParent)
    {
        var first = events[0];
        var several = events.Count > 1;
        return OutboxMessage.Create(
            Queues.TaskEvents,
            several ? Queues.TaskEventsOfOneSaveType : Queues.RoutingKeyOf(first.Name),
            several
                ? JsonSerializer.Serialize(new EventsOfOneSave([.. events.Select(e => new EventOfOneSave(e.Name, e.Sequence, e.At, e.From, e.Status, e.AttemptNo))], summary), JsonDefaults.Options)
                : JsonSerializer.Serialize(new TaskEventMessage(first.Name, first.Sequence, first.At, first.From, first.Status, first.AttemptNo, summary), JsonDefaults.Options),
            task.CorrelationId,
            traceParent,
            Queues.PriorityOf(task.Priority),
            first.At,
            task.TenantId,
            task.Id,
            first.Sequence,
            several ? WithIndex(Guid.CreateVersion7(first.At), 0) : null);
    }

    /// <summary>
    /// The events a stored row holds, each with the id and routing key it is published with, and its body: the event's
    /// fields with the row's task, as a <see cref="TaskEventMessage"/>. A row of any other type, or one whose body is not
    /// such an object (written by hand, restored, or by a build that stores rows differently), is returned as it is, one
    /// message as before: a row that cannot be split must not hold up the relay's batches or break a stream's catch-up.
    /// </summary>
    public static IReadOnlyList<StoredTaskEvent> Events(Guid rowId, string type, string payloadJson)
    {
        var asItIs = new[] { new StoredTaskEvent(rowId, type, payloadJson) };
        if (type != Queues.TaskEventsOfOneSaveType)
        {
            return asItIs;
        }

        try
        {
            using var document = JsonDocument.Parse(payloadJson);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("events", out var stored) || stored.ValueKind != JsonValueKind.Array || stored.GetArrayLength() is 0 or > MaxEvents
                || !root.TryGetProperty("task", out var taskJson) || taskJson.ValueKind != JsonValueKind.Object)
            {
                return asItIs;
            }

            var withTask = $",\"task\":{taskJson.GetRawText()}}}";
            var events = new List<StoredTaskEvent>(stored.GetArrayLength());
            foreach (var element in stored.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("event", out var name) || name.ValueKind != JsonValueKind.String)
                {
                    return asItIs;
                }

                // The event's object has a field (its name), so it ends in "…}" and takes the task as its last field.
                var fields = element.GetRawText();
                events.Add(new StoredTaskEvent(EventId(rowId, events.Count), Queues.RoutingKeyOf(name.GetString()!), string.Concat(fields.AsSpan(0, fields.Length - 1), withTask)));
            }

            return events;
        }
        catch (JsonException)
        {
            return asItIs;
        }
    }

    /// <inheritdoc cref="Events(Guid, string, string)"/>
    public static IReadOnlyList<StoredTaskEvent> Events(OutboxMessage row) => Events(row.Id, row.MessageType, row.PayloadJson);

    /// <summary>The id of the event at <paramref name="index"/> of a row of several events.</summary>
    public static Guid EventId(Guid rowId, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, MaxEvents);
        return WithIndex(rowId, index);
    }

    /// <summary>The id of the row of several events that would hold the event <paramref name="eventId"/>, and the event's place in it.</summary>
    public static (Guid RowId, int Index) RowIdOf(Guid eventId)
    {
        Span<byte> bytes = stackalloc byte[16];
        eventId.TryWriteBytes(bytes, bigEndian: true, out _);
        return (WithIndex(eventId, 0), bytes[15] & 0x0F);
    }

    private static Guid WithIndex(Guid id, int index)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes, bigEndian: true, out _);
        bytes[15] = (byte)((bytes[15] & 0xF0) | index);
        return new Guid(bytes, bigEndian: true);
    }
}

/// <summary>One event of a stored row: the id, type (routing key) and body it is published with.</summary>
public readonly record struct StoredTaskEvent(Guid Id, string Type, string Json);

/// <summary>The body of a row of one save's events: the events without the task, and the task once.</summary>
internal sealed record EventsOfOneSave(IReadOnlyList<EventOfOneSave> Events, TaskDto Task);

/// <summary>One event of <see cref="EventsOfOneSave"/>: a <see cref="TaskEventMessage"/> without its task.</summary>
internal sealed record EventOfOneSave(string Event, long Sequence, DateTimeOffset At, AiTaskStatus? From, AiTaskStatus Status, int AttemptNo);
