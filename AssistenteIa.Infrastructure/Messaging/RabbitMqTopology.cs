using AssistenteIa.Application.Messaging;
using RabbitMQ.Client;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>Declares the broker objects; idempotent, so every publisher and consumer runs it on its own channel.</summary>
public static class RabbitMqTopology
{
    public const byte MaxPriority = 9;

    /// <summary>
    /// The binding of <c>webhooks.task-events</c> to every event: what versions before the bindings by type set, which
    /// ServiceC removes, and what it sets when it cannot tell what its unbinds undid (<see cref="WebhookEventRouting"/>).
    /// </summary>
    public const string WebhookEventsBindingKey = "task.#";

    public static async Task DeclareAsync(IChannel channel, CancellationToken cancellationToken)
    {
        await DeclareTasksQueuedAsync(channel, cancellationToken);

        await channel.ExchangeDeclareAsync(Queues.TasksControl, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        // The webhook queue is declared with the exchange, by every process, but bound only by the event types enabled
        // endpoints take, by WebhookEventRouting: a bind here, on every channel a process opens, would copy every event
        // again until ServiceC's next full reconcile.
        await DeclareTaskEventsAsync(channel, cancellationToken);
    }

    /// <summary>The work queue <c>tasks-queued</c> and its dead-letter queue; the answer counts the messages ready in it.</summary>
    public static async Task<QueueDeclareOk> DeclareTasksQueuedAsync(IChannel channel, CancellationToken cancellationToken)
    {
        await channel.ExchangeDeclareAsync(Queues.TasksQueuedDeadLetterExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(Queues.TasksQueuedDeadLetter, durable: true, exclusive: false, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueBindAsync(Queues.TasksQueuedDeadLetter, Queues.TasksQueuedDeadLetterExchange, routingKey: "", cancellationToken: cancellationToken);

        // Classic queue: RabbitMQ 3.x quorum queues do not support priorities.
        var arguments = new Dictionary<string, object?>
        {
            ["x-queue-type"] = "classic",
            ["x-max-priority"] = (int)MaxPriority,
            ["x-dead-letter-exchange"] = Queues.TasksQueuedDeadLetterExchange,
        };
        return await channel.QueueDeclareAsync(Queues.TasksQueued, durable: true, exclusive: false, autoDelete: false, arguments: arguments, cancellationToken: cancellationToken);
    }

    /// <summary>The <c>task-events</c> exchange and ServiceC's webhook queue, not bound to each other.</summary>
    public static async Task DeclareTaskEventsAsync(IChannel channel, CancellationToken cancellationToken)
    {
        await channel.ExchangeDeclareAsync(Queues.TaskEvents, ExchangeType.Topic, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(Queues.WebhookTaskEvents, durable: true, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-queue-type"] = "classic" }, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Where an outbox message is published. Queues go through the default exchange and must be routed (mandatory);
    /// control messages fan out and task events go to the topic exchange by their type, to whoever listens: no
    /// listener is not an error.
    /// </summary>
    /// <param name="destination">The outbox row's destination.</param>
    /// <param name="type">The message's type: for a task event, its routing key <c>task.&lt;event&gt;</c>.</param>
    public static (string Exchange, string RoutingKey, bool Mandatory) Route(string destination, string type) => destination switch
    {
        Queues.TasksControl => (Queues.TasksControl, "", false),
        Queues.TaskEvents => (Queues.TaskEvents, type, false),
        _ => ("", destination, true),
    };
}
