using System.Diagnostics;
using System.Text;
using AssistenteIa.Application.Abstractions;
using AssistenteIa.Domain.Outbox;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// The one publisher: persistent messages on a confirm channel, so <see cref="PublishAsync"/> returns only after
/// the broker took responsibility for the message (and throws when it did not).
/// </summary>
public sealed class RabbitMqPublisher(IServiceProvider services) : IMessagePublisher, IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IChannel? _channel;

    public async Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        using var activity = MessagingTelemetry.Source.StartActivity(
            $"{message.Destination} publish", ActivityKind.Producer, MessagingTelemetry.ParentFrom(message.TraceParent));
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", message.Destination);
        activity?.SetTag("messaging.message.id", message.Id.ToString());

        var properties = new BasicProperties
        {
            Persistent = true,
            ContentType = "application/json",
            MessageId = message.Id.ToString(),
            Type = message.MessageType,
            CorrelationId = message.CorrelationId,
            Priority = message.Priority,
            Timestamp = new AmqpTimestamp(message.CreatedAt.ToUnixTimeSeconds()),
            Headers = new Dictionary<string, object?>
            {
                [MessagingTelemetry.TraceParentHeader] = activity?.Id ?? message.TraceParent,
                [MessagingTelemetry.CorrelationIdHeader] = message.CorrelationId,
            },
        };
        var body = Encoding.UTF8.GetBytes(message.PayloadJson);

        await _gate.WaitAsync(cancellationToken);
        try
        {
            var channel = await GetChannelAsync(cancellationToken);
            try
            {
                var (exchange, routingKey, mandatory) = RabbitMqTopology.Route(message.Destination);
                await channel.BasicPublishAsync(exchange, routingKey, mandatory, properties, body, cancellationToken);
            }
            catch
            {
                // A channel that failed a publish may be closed or out of step with its confirms: start afresh next time.
                await DropChannelAsync();
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DropChannelAsync();
        _gate.Dispose();
    }

    private async Task<IChannel> GetChannelAsync(CancellationToken cancellationToken)
    {
        if (_channel is { IsOpen: true })
        {
            return _channel;
        }

        await DropChannelAsync();

        // Resolved lazily: the API must start (and accept tasks into the outbox) while the broker is down.
        var connection = services.GetRequiredService<IConnection>();
        var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
        await RabbitMqTopology.DeclareAsync(channel, cancellationToken);
        _channel = channel;
        return channel;
    }

    private async Task DropChannelAsync()
    {
        var channel = _channel;
        _channel = null;
        if (channel is not null)
        {
            try
            {
                await channel.DisposeAsync();
            }
            catch (Exception)
            {
                // Disposing a broken channel may throw; there is nothing left to release.
            }
        }
    }
}
