using System.Text;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.StreamTaskEvents;
using AssistenteIa.Domain.Outbox;
using AssistenteIa.Infrastructure.Messaging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AssistenteIaApi.Messaging;

/// <summary>
/// Feeds this API instance's event streams: its own exclusive, auto-deleted queue bound to every task event, so each
/// instance sees every event. Deliveries are not acknowledged one by one (a missed one is read from the outbox by the
/// stream); whenever the subscription starts again, the streams are told to catch up.
/// </summary>
public sealed class TaskEventListener(IServiceProvider services, SubscriptionHealth health, TaskEventHub hub, ILogger<TaskEventListener> logger)
    : BrokerSubscription(services, health, logger)
{
    private readonly string _queue = $"{Queues.TaskEvents}.api.{Environment.MachineName}.{Guid.NewGuid():N}";

    protected override string Source => $"{Queues.TaskEvents} (event streams)";

    protected override bool AutoAck => true;

    protected override async Task<string> PrepareAsync(IChannel channel, CancellationToken stoppingToken)
    {
        // Bounded: an instance that cannot keep up loses the oldest, which its streams then read from the outbox.
        var arguments = new Dictionary<string, object?> { ["x-max-length"] = 100_000, ["x-overflow"] = "drop-head" };
        await channel.QueueDeclareAsync(_queue, durable: false, exclusive: true, autoDelete: true, arguments: arguments, cancellationToken: stoppingToken);
        await channel.QueueBindAsync(_queue, Queues.TaskEvents, "task.#", cancellationToken: stoppingToken);
        return _queue;
    }

    protected override void OnSubscribed() => hub.SignalGap();

    protected override Task HandleAsync(IChannel channel, BasicDeliverEventArgs delivery, CancellationToken stoppingToken)
    {
        var headers = delivery.BasicProperties.Headers;
        if (MessagingTelemetry.ReadHeader(headers, MessageHeaders.TenantId) is { } tenantId
            && Guid.TryParse(MessagingTelemetry.ReadHeader(headers, MessageHeaders.TaskId), out var taskId)
            && Guid.TryParse(delivery.BasicProperties.MessageId, out var eventId)
            && delivery.BasicProperties.Type is { Length: > 0 } type)
        {
            hub.Publish(tenantId, new TaskEventEnvelope(eventId, taskId, type, Encoding.UTF8.GetString(delivery.Body.Span), OutboxMessage.WrittenAt(eventId) ?? DateTimeOffset.UtcNow));
        }
        else
        {
            Logger.LogWarning("Ignored a task event without tenant, task, id or type (message {MessageId})", delivery.BasicProperties.MessageId);
        }

        return Task.CompletedTask;
    }
}
