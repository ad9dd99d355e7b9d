using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.ExecuteTask;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// Listens on the control exchange through a private, self-deleting queue and cancels the attempt of a task
/// this instance runs, so a cancel reaches a running task in well under a second.
/// </summary>
public sealed class CancelSignalConsumer(IServiceProvider services, SubscriptionHealth health, RunningAttempts running, ILogger<CancelSignalConsumer> logger)
    : BrokerSubscription(services, health, logger)
{
    protected override string Source => Queues.TasksControl;

    protected override bool AutoAck => true;

    protected override async Task<string> PrepareAsync(IChannel channel, CancellationToken stoppingToken)
    {
        var queue = await channel.QueueDeclareAsync(queue: "", durable: false, exclusive: true, autoDelete: true, cancellationToken: stoppingToken);
        await channel.QueueBindAsync(queue.QueueName, Queues.TasksControl, routingKey: "", cancellationToken: stoppingToken);
        return queue.QueueName;
    }

    protected override async Task HandleAsync(IChannel channel, BasicDeliverEventArgs delivery, CancellationToken stoppingToken)
    {
        TaskCancelRequested? signal;
        try
        {
            signal = JsonSerializer.Deserialize<TaskCancelRequested>(delivery.Body.Span, JsonDefaults.Options);
        }
        catch (JsonException)
        {
            Logger.LogWarning("Ignoring an unreadable control message on {Exchange}", Queues.TasksControl);
            return;
        }

        if (signal is not null && await running.StopAsync(signal.TaskId, StopReason.CancelRequested))
        {
            Logger.LogInformation("Cancel signal delivered to the running attempt of task {TaskId}", signal.TaskId);
        }
    }
}
