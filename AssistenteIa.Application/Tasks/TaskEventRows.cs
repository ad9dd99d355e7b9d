using System.Text.Json;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Events;

namespace AssistenteIa.Application.Tasks;

/// <summary>
/// How the task events of one save are stored in the outbox and read back. A save that records one event stores it as
/// it is published: type <c>task.&lt;event&gt;</c>, the body of one <see cref="TaskEventMessage"/>, the row's id the
/// event's id. A save that records several (a create: <c>created</c> + <c>queued</c>; a claim: <c>reserved</c> +
/// <c>started</c>) stores them in one row of type <see cref="Queues.TaskEventsOfOneSaveType"/>, whose body is the JSON
/// array of their bodies, and whose <see cref="OutboxMessage.EventSequence"/> is the first event's: a concurrent save
/// from the same read takes that number too, and the unique index refuses it. The row is published, and replayed, as
/// one message per event (<see cref="Events(OutboxMessage)"/>).
/// <para>
/// Each stored row costs the database an insert with three index entries and the listeners' trigger, about 0.16 ms:
/// one row a save instead of one an event is three rows a task instead of five.
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
        var bodies = events.Select(e => new TaskEventMessage(e.Name, e.Sequence, e.At, e.From, e.Status, e.AttemptNo, summary)).ToList();
        var several = bodies.Count > 1;
        var first = events[0];
        return OutboxMessage.Create(
            Queues.TaskEvents,
            several ? Queues.TaskEventsOfOneSaveType : Queues.RoutingKeyOf(first.Name),
            several ? JsonSerializer.Serialize(bodies, JsonDefaults.Options) : JsonSerializer.Serialize(bodies[0], JsonDefaults.Options),
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
    /// The events a stored row holds, each with the id and routing key it is published with. A row of any other type,
    /// or one whose body is not such an array (written by hand, restored, or by a build that stores rows differently),
    /// is returned as it is, one message as before: a row that cannot be split must not hold up the relay's batches or
    /// break a stream's catch-up.
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
            if (document.RootElement.ValueKind != JsonValueKind.Array || document.RootElement.GetArrayLength() is 0 or > MaxEvents)
            {
                return asItIs;
            }

            var events = new List<StoredTaskEvent>(document.RootElement.GetArrayLength());
            foreach (var element in document.RootElement.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("event", out var name) || name.ValueKind != JsonValueKind.String)
                {
                    return asItIs;
                }

                events.Add(new StoredTaskEvent(EventId(rowId, events.Count), Queues.RoutingKeyOf(name.GetString()!), element.GetRawText()));
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
