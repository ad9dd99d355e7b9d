using System.Text;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.Outbox;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIaApi.ServiceC.Worker.Webhooks;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AssistenteIaApi.ServiceC.Worker.Interfaces.Messaging.Consumers;

/// <summary>
/// Consumes every task event from the durable queue <c>webhooks.task-events</c> (shared by the ServiceC instances) and
/// stores a delivery per subscribed endpoint before acknowledging; the <see cref="WebhookSender"/> sends them.
/// </summary>
public sealed class TaskEventWebhookConsumer(IServiceProvider services, SubscriptionHealth health, WebhookSignal signal, ILogger<TaskEventWebhookConsumer> logger)
    : BrokerSubscription(services, health, logger)
{
    public const string Queue = Queues.WebhookTaskEvents;

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    protected override string Source => Queue;

    protected override async Task<string> PrepareAsync(IChannel channel, CancellationToken stoppingToken)
    {
        // The queue itself is part of the shared topology (RabbitMqTopology).
        await channel.BasicQosAsync(0, 32, false, stoppingToken);
        return Queue;
    }

    protected override async Task HandleAsync(IChannel channel, BasicDeliverEventArgs delivery, CancellationToken stoppingToken)
    {
        var properties = delivery.BasicProperties;
        if (MessagingTelemetry.ReadHeader(properties.Headers, MessageHeaders.TenantId) is not { } tenantId
            || !Guid.TryParse(properties.MessageId, out var eventId)
            || properties.Type is not { Length: > 0 } type)
        {
            Logger.LogWarning("Dropped a task event without tenant, id or type (message {MessageId})", properties.MessageId);
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, CancellationToken.None);
            return;
        }

        try
        {
            await using var scope = Services.CreateAsyncScope();
            var handler = scope.ServiceProvider.GetRequiredService<FanOutTaskEventHandler>();
            var at = OutboxMessage.WrittenAt(eventId) ?? DateTimeOffset.UtcNow;
            if (await handler.HandleAsync(new ReceivedTaskEvent(eventId, tenantId, type, at, Encoding.UTF8.GetString(delivery.Body.Span)), stoppingToken) > 0)
            {
                signal.Wake();
            }

            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, CancellationToken.None);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            // Database down: the event stays on the queue; a short pause keeps this from spinning.
            Logger.LogWarning(ex, "Could not store the webhook deliveries of event {EventId}; requeued", eventId);
            await Task.Delay(RetryDelay, stoppingToken);
            await channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true, CancellationToken.None);
        }
    }
}
