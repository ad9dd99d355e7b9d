namespace AssistenteIa.Application.Messaging;

/// <summary>The message on <c>tasks-queued</c> (contract from the user's notes). Type is "Domain/Capability/Execution".</summary>
public sealed record TaskQueued(Guid TaskId, string Type, int Attempt, string CorrelationId);

/// <summary>Control message fanned out to every executor: stop the attempt of this task if you run it.</summary>
public sealed record TaskCancelRequested(Guid TaskId, string CorrelationId);

public static class Queues
{
    /// <summary>Topic exchange carrying every task event, routing key <c>task.&lt;event&gt;</c>.</summary>
    public const string TaskEvents = "task-events";

    public static string RoutingKeyOf(string eventName) => $"task.{eventName}";

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
/// A task event as consumers receive it from <c>task-events</c>: the outbox row's id (its position), the tenant and task
/// from the headers, the routing key, when it was written, and the body as published (see <c>TaskEventMessage</c>).
/// </summary>
public sealed record ReceivedTaskEvent(Guid EventId, string TenantId, Guid TaskId, string Type, DateTimeOffset At, string Json);

/// <summary>Message headers besides trace context: task events name their tenant and task so consumers filter without parsing.</summary>
public static class MessageHeaders
{
    public const string TenantId = "tenant-id";
    public const string TaskId = "task-id";
}
