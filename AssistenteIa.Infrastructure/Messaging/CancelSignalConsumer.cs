using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.ExecuteTask;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// Listens on the control exchange through a private, self-deleting queue and cancels the attempt of a task
/// this instance runs, so a cancel reaches a running task in well under a second.
/// </summary>
public sealed class CancelSignalConsumer(IServiceProvider services, RunningAttempts running, ILogger<CancelSignalConsumer> logger) : BackgroundService
{
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var connection = services.GetRequiredService<IConnection>();
                await using var channel = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
                await RabbitMqTopology.DeclareAsync(channel, stoppingToken);
                var queue = await channel.QueueDeclareAsync(queue: "", durable: false, exclusive: true, autoDelete: true, cancellationToken: stoppingToken);
                await channel.QueueBindAsync(queue.QueueName, Queues.TasksControl, routingKey: "", cancellationToken: stoppingToken);

                var consumer = new AsyncEventingBasicConsumer(channel);
                consumer.ReceivedAsync += (_, delivery) => HandleAsync(delivery);
                await channel.BasicConsumeAsync(queue.QueueName, autoAck: true, consumer, stoppingToken);
                await Task.Delay(Timeout.Infinite, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Cannot listen on {Exchange} now; retrying in {Delay}", Queues.TasksControl, ReconnectDelay);
                await Task.Delay(ReconnectDelay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private async Task HandleAsync(BasicDeliverEventArgs delivery)
    {
        TaskCancelRequested? signal;
        try
        {
            signal = JsonSerializer.Deserialize<TaskCancelRequested>(delivery.Body.Span, JsonDefaults.Options);
        }
        catch (JsonException)
        {
            logger.LogWarning("Ignoring an unreadable control message on {Exchange}", Queues.TasksControl);
            return;
        }

        if (signal is not null && await running.CancelAsync(signal.TaskId))
        {
            logger.LogInformation("Cancel signal delivered to the running attempt of task {TaskId}", signal.TaskId);
        }
    }
}
