using System.Diagnostics;
using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.ExecuteTask;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// Consumes <c>tasks-queued</c> with manual acks: a delivery is acked only after its outcome is stored,
/// nacked to the dead-letter queue when it cannot be parsed, and requeued when storing failed.
/// </summary>
public sealed class TaskQueuedConsumer(
    IServiceProvider services,
    SubscriptionHealth health,
    IOptions<WorkerOptions> options,
    ILogger<TaskQueuedConsumer> logger) : BrokerSubscription(services, health, logger)
{
    private static readonly TimeSpan RequeueDelay = TimeSpan.FromSeconds(1);

    protected override string Source => Queues.TasksQueued;

    protected override CreateChannelOptions ChannelOptions =>
        new(publisherConfirmationsEnabled: false, publisherConfirmationTrackingEnabled: false, consumerDispatchConcurrency: (ushort)options.Value.MaxConcurrency);

    protected override async Task<string> PrepareAsync(IChannel channel, CancellationToken stoppingToken)
    {
        await channel.BasicQosAsync(prefetchSize: 0, prefetchCount: options.Value.EffectivePrefetch, global: false, stoppingToken);
        Logger.LogInformation(
            "Consuming {Queue} with prefetch {Prefetch} and concurrency {Concurrency}",
            Queues.TasksQueued, options.Value.EffectivePrefetch, options.Value.MaxConcurrency);
        return Queues.TasksQueued;
    }

    protected override async Task HandleAsync(IChannel channel, BasicDeliverEventArgs delivery, CancellationToken stoppingToken)
    {
        var traceParent = MessagingTelemetry.ReadHeader(delivery.BasicProperties.Headers, MessagingTelemetry.TraceParentHeader);
        using var activity = MessagingTelemetry.Source.StartActivity($"{Queues.TasksQueued} process", ActivityKind.Consumer, MessagingTelemetry.ParentFrom(traceParent));
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", Queues.TasksQueued);

        if (stoppingToken.IsCancellationRequested)
        {
            // Prefetched before the stop: another worker takes it.
            await channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true, CancellationToken.None);
            return;
        }

        var message = TryParse(delivery.Body);
        if (message is null)
        {
            Logger.LogWarning(
                "Unparseable message {MessageId} on {Queue} ({Length} bytes) sent to the dead-letter queue",
                delivery.BasicProperties.MessageId, Queues.TasksQueued, delivery.Body.Length);
            await channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: false, CancellationToken.None);
            return;
        }

        using var scope = logger.BeginScope(new Dictionary<string, object> { ["TaskId"] = message.TaskId, ["CorrelationId"] = message.CorrelationId });
        activity?.SetTag("assistenteia.task.id", message.TaskId.ToString());
        try
        {
            await using var services1 = Services.CreateAsyncScope();
            var handler = services1.ServiceProvider.GetRequiredService<ExecuteTaskHandler>();
            await handler.HandleAsync(message, stoppingToken);
            await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // Nothing was recorded for this delivery: give it back to the queue for another try.
            Logger.LogError(ex, "Task {TaskId} delivery failed before its outcome was stored; requeueing", message.TaskId);
            await Task.Delay(RequeueDelay, CancellationToken.None);
            try
            {
                await channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true, CancellationToken.None);
            }
            catch (Exception nackError)
            {
                // The channel is gone; the broker redelivers every unacked message of a closed channel.
                Logger.LogWarning(nackError, "Could not nack delivery of task {TaskId}", message.TaskId);
            }
        }
    }

    private static TaskQueued? TryParse(ReadOnlyMemory<byte> body)
    {
        try
        {
            var message = JsonSerializer.Deserialize<TaskQueued>(body.Span, JsonDefaults.Options);
            return message is { TaskId: var id } && id != Guid.Empty ? message : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
