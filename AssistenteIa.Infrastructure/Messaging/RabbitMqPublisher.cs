using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// The one publisher: persistent messages on confirm channels, so <see cref="PublishAsync"/> returns only after
/// the broker took responsibility for the message (and throws when it did not). A small pool of channels, each
/// used by one publish at a time, lets concurrent requests wait for their confirms in parallel.
/// </summary>
public sealed class RabbitMqPublisher(IServiceProvider services) : IMessagePublisher, IAsyncDisposable
{
    private const int MaxChannels = 8;

    private readonly ConcurrentBag<IChannel> _idle = [];
    private readonly SemaphoreSlim _slots = new(MaxChannels, MaxChannels);

    public async Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        if ((await PublishInOrderAsync([message], cancellationToken))[0] is { } error)
        {
            throw error;
        }
    }

    /// <summary>
    /// Publishes the messages on one channel one after another without waiting for a confirm in between, then waits
    /// for all the confirms: the broker receives (and routes) them in this order, and the chain costs one confirm
    /// wait instead of one per message. Should the broker refuse one while confirming a later one (a broker-side
    /// error; rare), that later one stays published and the refused one is relayed after it: consumers already
    /// order events by their sequence and ignore work messages for tasks no longer queued.
    /// </summary>
    public async Task<IReadOnlyList<Exception?>> PublishInOrderAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
    {
        var results = new Exception?[messages.Count];
        await _slots.WaitAsync(cancellationToken);
        IChannel? channel = null;
        var activities = new List<Activity?>(messages.Count);
        try
        {
            channel = RentOpenChannel() ?? await CreateChannelAsync(cancellationToken);

            // Started in order, not awaited: the channel sends them in the order they took its publish lock (FIFO). A row
            // of several task events goes out as one message per event (TaskEventRows) and is confirmed when all are.
            var confirms = new List<(int Row, Task Confirm)>(messages.Count);
            var started = 0;
            try
            {
                for (; started < messages.Count; started++)
                {
                    // Every span of the row is listed before any publish, so a publish that throws leaves none undisposed.
                    var prepared = Prepare(messages[started]);
                    activities.AddRange(prepared.Select(p => p.Activity));
                    foreach (var (_, exchange, routingKey, mandatory, properties, body) in prepared)
                    {
                        confirms.Add((started, channel.BasicPublishAsync(exchange, routingKey, mandatory, properties, body, cancellationToken).AsTask()));
                    }
                }
            }
            catch (Exception ex)
            {
                // The rows not started (or started in part) are not published whole; the messages started are judged by
                // their confirms below.
                for (var i = started; i < messages.Count; i++)
                {
                    results[i] = ex;
                }
            }

            foreach (var (row, confirm) in confirms)
            {
                try
                {
                    await confirm;
                }
                catch (Exception ex)
                {
                    results[row] ??= ex;
                }
            }
        }
        catch (Exception ex)
        {
            // No channel: nothing was published.
            Array.Fill(results, ex);
        }
        finally
        {
            foreach (var activity in activities)
            {
                activity?.Dispose();
            }

            // A channel that failed a publish may be closed or out of step with its confirms: never reuse it.
            if (channel is not null && Array.TrueForAll(results, r => r is null))
            {
                _idle.Add(channel);
            }
            else if (channel is not null)
            {
                // Closing waits for the broker's answer, which a blocked broker never sends: not on this caller's time.
                _ = DisposeQuietlyAsync(channel);
            }

            _slots.Release();
        }

        return results;
    }

    /// <summary>The message a row is published as, or for a row of several task events one message per event.</summary>
    private static List<(Activity? Activity, string Exchange, string RoutingKey, bool Mandatory, BasicProperties Properties, byte[] Body)> Prepare(OutboxMessage message)
    {
        if (message.Destination != Queues.TaskEvents)
        {
            return [Prepare(message, message.Id, message.MessageType, message.PayloadJson)];
        }

        return [.. TaskEventRows.Events(message).Select(e => Prepare(message, e.Id, e.Type, e.Json))];
    }

    private static (Activity? Activity, string Exchange, string RoutingKey, bool Mandatory, BasicProperties Properties, byte[] Body) Prepare(
        OutboxMessage message, Guid id, string type, string payloadJson)
    {
        var activity = MessagingTelemetry.Source.StartActivity(
            $"{message.Destination} publish", ActivityKind.Producer, MessagingTelemetry.ParentFrom(message.TraceParent));
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", message.Destination);
        activity?.SetTag("messaging.message.id", id.ToString());

        var properties = new BasicProperties
        {
            Persistent = true,
            ContentType = "application/json",
            MessageId = id.ToString(),
            Type = type,
            CorrelationId = message.CorrelationId,
            Priority = message.Priority,
            Timestamp = new AmqpTimestamp(message.CreatedAt.ToUnixTimeSeconds()),
            Headers = new Dictionary<string, object?>
            {
                [MessagingTelemetry.TraceParentHeader] = activity?.Id ?? message.TraceParent,
                [MessagingTelemetry.CorrelationIdHeader] = message.CorrelationId,
            },
        };
        if (message.TenantId is not null)
        {
            properties.Headers[MessageHeaders.TenantId] = message.TenantId;
            properties.Headers[MessageHeaders.TaskId] = message.TaskId?.ToString();
        }

        var (exchange, routingKey, mandatory) = RabbitMqTopology.Route(message.Destination, type);
        return (activity, exchange, routingKey, mandatory, properties, Encoding.UTF8.GetBytes(payloadJson));
    }

    public async ValueTask DisposeAsync()
    {
        while (_idle.TryTake(out var channel))
        {
            await DisposeQuietlyAsync(channel);
        }

        _slots.Dispose();
    }

    private IChannel? RentOpenChannel()
    {
        while (_idle.TryTake(out var channel))
        {
            if (channel.IsOpen)
            {
                return channel;
            }

            _ = DisposeQuietlyAsync(channel);
        }

        return null;
    }

    private async Task<IChannel> CreateChannelAsync(CancellationToken cancellationToken)
    {
        // Resolved lazily: the API must start (and accept tasks into the outbox) while the broker is down.
        var connection = services.GetRequiredService<IConnection>();
        var channel = await connection.CreateChannelAsync(
            // No rate limiter on outstanding confirms: PublishInOrderAsync relies on publishes taking the channel's
            // publish lock in call order, which a limiter's own queue could change.
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true, outstandingPublisherConfirmationsRateLimiter: null),
            cancellationToken);
        try
        {
            await RabbitMqTopology.DeclareAsync(channel, cancellationToken);
            return channel;
        }
        catch
        {
            await DisposeQuietlyAsync(channel);
            throw;
        }
    }

    private static async Task DisposeQuietlyAsync(IChannel channel)
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
