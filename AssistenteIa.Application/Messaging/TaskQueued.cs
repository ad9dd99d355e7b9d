using System.Text.Json;
using System.Text.Json.Serialization;
using AssistenteIa.Domain.Entities;

namespace AssistenteIa.Application.Messaging;

/// <summary>
/// The message on <c>tasks-queued</c> (contract from the user's notes). Type is "Domain/Capability/Execution".
/// <see cref="Task"/>, when present, is the task as the save that queued it stored it, from which a worker claims
/// without reading the task first (the database refuses the claim when the task changed since, and the worker then
/// reads it). It is written and read in the message's own pass (<see cref="QueuedTaskJsonConverter"/>): one this build
/// cannot read whole (a status or a type a later version wrote, a field missing) is null, and leaves the worker to read
/// the task; it never makes the whole message unreadable.
/// </summary>
public sealed record TaskQueued(Guid TaskId, string Type, int Attempt, string CorrelationId, [property: JsonConverter(typeof(QueuedTaskJsonConverter))] QueuedTask? Task = null);

/// <summary>
/// The task as the save that queued it stored it, and the row version that save left (the claim's update is
/// conditional on it). Sent only with a payload up to <see cref="MaxPayloadLength"/> characters: a larger one would be
/// stored a second time in the outbox row, and the worker reads such a task instead.
/// </summary>
public sealed record QueuedTask(AiTaskState State, int Version)
{
    public const int MaxPayloadLength = 8 * 1024;

    /// <summary>
    /// How old (by the database's clock, from the save that queued the task) a message may be for a claim from it.
    /// The database refuses a claim from a task that changed since by the event rows of those changes; they are kept
    /// for at least a day (<c>Dispatcher:OutboxRetention</c>), so within this window none of them has been purged. An
    /// older message (a backlog of hours, a dead letter re-driven) is claimed from a read: a stale claim whose
    /// conflicting rows were purged could otherwise store its attempt and events without its task's update.
    /// </summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(10);

    /// <summary>How far ahead of the database's clock the queuing process's clock may have stamped it.</summary>
    public static readonly TimeSpan MaxAhead = TimeSpan.FromMinutes(5);

    /// <summary>Every field required and non-nullable ones not null: a message from a build whose state has a field less is not read whole.</summary>
    internal static readonly JsonSerializerOptions Strict = new(JsonDefaults.Options) { RespectRequiredConstructorParameters = true, RespectNullableAnnotations = true };

    /// <summary>Whether a claim may be made from this message when the database's clock reads <paramref name="databaseNow"/> (<see cref="MaxAge"/>).</summary>
    public bool IsRecent(DateTimeOffset databaseNow) => State.UpdatedAt >= databaseNow - MaxAge && State.UpdatedAt <= databaseNow + MaxAhead;

    /// <summary>The task <paramref name="message"/> carries, if it carries one this build read whole, and it is the message's task.</summary>
    public static QueuedTask? Of(TaskQueued message) => message.Task is { } queued && queued.State.Id == message.TaskId ? queued : null;
}

/// <summary>
/// Writes the task of a work message as part of the message, and reads it strictly (<see cref="QueuedTask.Strict"/>)
/// or not at all: a value this build cannot read whole is skipped and read as null, so the rest of the message still
/// reads.
/// </summary>
public sealed class QueuedTaskJsonConverter : JsonConverter<QueuedTask>
{
    public override QueuedTask? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // The serializer hands a converter the whole value: the attempt reads a copy, and only a whole read moves on.
        var attempt = reader;
        try
        {
            var queued = JsonSerializer.Deserialize<QueuedTask>(ref attempt, QueuedTask.Strict);
            reader = attempt;
            return queued;
        }
        catch (JsonException)
        {
            // TrySkip: the value is buffered whole, also when the message is read from a stream (where Skip throws).
            reader.TrySkip();
            return null;
        }
    }

    /// <summary>With the options the read expects, whatever the message is written with.</summary>
    public override void Write(Utf8JsonWriter writer, QueuedTask value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value, JsonDefaults.Options);
}

/// <summary>Control message fanned out to every executor: stop the attempt of this task if you run it.</summary>
public sealed record TaskCancelRequested(Guid TaskId, string CorrelationId);

public static class Queues
{
    /// <summary>Topic exchange carrying every task event, routing key <c>task.&lt;event&gt;</c>.</summary>
    public const string TaskEvents = "task-events";

    public static string RoutingKeyOf(string eventName) => $"task.{eventName}";

    /// <summary>
    /// The type of an outbox row that holds several events of one task, recorded by one save (the events, and the task
    /// once): it is never published as it is, but as one message per event (<c>TaskEventRows</c>).
    /// </summary>
    public const string TaskEventsOfOneSaveType = "task.events-of-one-save";

    /// <summary>ServiceC's durable queue of every task event, from which it stores webhook deliveries.</summary>
    public const string WebhookTaskEvents = "webhooks.task-events";

    /// <summary>Fanout exchange for control messages to every executor instance.</summary>
    public const string TasksControl = "tasks-control";
    public const string TaskCancelRequestedType = "TaskCancelRequested";

    public const string TasksQueued = "tasks-queued";
    public const string TasksQueuedDeadLetterExchange = "tasks-queued.dlx";
    public const string TasksQueuedDeadLetter = "tasks-queued.dlq";
    public const string TaskQueuedType = "TaskQueued";

    /// <summary>RabbitMQ priority for a task priority (the queue is declared with x-max-priority 9).</summary>
    public static byte PriorityOf(Domain.ValueObjects.Priority priority) => priority switch
    {
        Domain.ValueObjects.Priority.Low => 1,
        Domain.ValueObjects.Priority.Normal => 4,
        Domain.ValueObjects.Priority.High => 7,
        Domain.ValueObjects.Priority.Critical => 9,
        _ => 4,
    };
}

/// <summary>
/// A task event as consumers receive it from <c>task-events</c>: its id (its position: the outbox row's, or derived from it
/// for a row of several events, <c>TaskEventRows</c>), the tenant and task
/// from the headers, the routing key, when it was written, and the body as published (see <c>TaskEventMessage</c>).
/// </summary>
public sealed record ReceivedTaskEvent(Guid EventId, string TenantId, Guid TaskId, string Type, DateTimeOffset At, string Json);

/// <summary>Message headers besides trace context: task events name their tenant and task so consumers filter without parsing.</summary>
public static class MessageHeaders
{
    public const string TenantId = "tenant-id";
    public const string TaskId = "task-id";
}
