using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>What a handler decides about a delivery (ignored for auto-acknowledged subscriptions).</summary>
public enum DeliveryOutcome
{
    Ack,

    /// <summary>Give it back to the queue for another try (after a short pause, none while the host stops).</summary>
    Requeue,

    /// <summary>It can never be handled: to the queue's dead-letter exchange, if it has one.</summary>
    Reject,
}

/// <summary>The envelope of a delivery: what the broker and the publisher's headers say besides the body.</summary>
public sealed record MessageContext(string? MessageId, string? Type, string? CorrelationId, string? TenantId, string? TaskId, bool Redelivered, string Body);

/// <summary>Handles one message type; resolved in a scope of its own for each delivery.</summary>
public interface IMessageHandler<in TMessage>
    where TMessage : class
{
    Task<DeliveryOutcome> HandleAsync(TMessage message, MessageContext context, CancellationToken cancellationToken);
}

/// <summary>
/// Where and how a subscription consumes: a queue of the shared topology, or a private queue of this instance bound to
/// an exchange; prefetch, concurrency, acknowledgements; how a body becomes the message (JSON by default).
/// </summary>
public sealed record SubscriptionDefinition<TMessage>
    where TMessage : class
{
    internal SubscriptionDefinition(string source, Func<IChannel, CancellationToken, Task<string>> declare)
    {
        Source = source;
        Declare = declare;
    }

    public string Source { get; }

    internal Func<IChannel, CancellationToken, Task<string>> Declare { get; }

    public ushort? Prefetch { get; init; }

    /// <summary>Deliveries handled at once on this subscription's channel.</summary>
    public ushort Concurrency { get; init; } = 1;

    /// <summary>The broker forgets a delivery once sent: for signals and feeds whose losses are covered elsewhere.</summary>
    public bool AutoAck { get; init; }

    /// <summary>Turns a body (and its properties) into the message; null when it cannot be read. JSON by default.</summary>
    public Func<ReadOnlyMemory<byte>, MessageContext, TMessage?> Parse { get; init; } = (body, _) => Subscribe.Json<TMessage>(body);

    /// <summary>Called each time the subscription is (again) consuming: what was published while it was down did not reach it.</summary>
    public Action<IServiceProvider>? OnSubscribed { get; init; }

    /// <summary>
    /// A delivery whose handling fails this many times here because a stored row holds a value this build cannot read
    /// (<see cref="StoredValueUnreadableException"/>: a status or a type a later version wrote, before a rollback) is
    /// rejected, to the queue's dead-letter exchange, instead of coming back after every pause for ever, holding a
    /// consumer while it waits. Every other failure requeues, after the pause, as long as it lasts: a refusal of the
    /// database cannot be told apart from one every delivery meets (a schema a deploy changed), which another instance
    /// may not meet. Null: every failure requeues.
    /// </summary>
    public int? UnreadableBeforeRejecting { get; init; }
}

/// <summary>Where a subscription consumes from; start a <see cref="SubscriptionDefinition{TMessage}"/> here.</summary>
public static class Subscribe
{
    /// <summary>A queue the shared topology declares (<see cref="RabbitMqTopology"/>).</summary>
    public static SubscriptionDefinition<TMessage> Queue<TMessage>(string queue)
        where TMessage : class => new(queue, (_, _) => Task.FromResult(queue));

    /// <summary>
    /// A queue of this instance only (exclusive, deleted with its connection) bound to <paramref name="exchange"/>: every
    /// instance gets every message. <paramref name="name"/> null lets the broker name it.
    /// </summary>
    public static SubscriptionDefinition<TMessage> PrivateQueue<TMessage>(
        string exchange, IReadOnlyList<string> routingKeys, string? name = null, IDictionary<string, object?>? arguments = null)
        where TMessage : class =>
        new(exchange, async (channel, cancellationToken) =>
        {
            var queue = await channel.QueueDeclareAsync(name ?? "", durable: false, exclusive: true, autoDelete: true, arguments: arguments, cancellationToken: cancellationToken);
            foreach (var key in routingKeys)
            {
                await channel.QueueBindAsync(queue.QueueName, exchange, key, cancellationToken: cancellationToken);
            }

            return queue.QueueName;
        });

    /// <summary>
    /// A queue of this instance only, like <see cref="PrivateQueue{TMessage}(string, IReadOnlyList{string}, string?, IDictionary{string, object?}?)"/>,
    /// bound to its exchange only while <paramref name="binding"/> says it is wanted.
    /// </summary>
    public static SubscriptionDefinition<TMessage> PrivateQueue<TMessage>(OnDemandBinding binding, string? name = null, IDictionary<string, object?>? arguments = null)
        where TMessage : class =>
        new(binding.Exchange, async (channel, cancellationToken) =>
        {
            var queue = await channel.QueueDeclareAsync(name ?? "", durable: false, exclusive: true, autoDelete: true, arguments: arguments, cancellationToken: cancellationToken);
            await binding.AttachAsync(channel, queue.QueueName, cancellationToken);
            return queue.QueueName;
        });

    /// <summary>The body as JSON in the platform's shape (<see cref="JsonDefaults"/>); null when it is not.</summary>
    public static TMessage? Json<TMessage>(ReadOnlyMemory<byte> body)
        where TMessage : class
    {
        try
        {
            return JsonSerializer.Deserialize<TMessage>(body.Span, JsonDefaults.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

public static class SubscriptionRegistration
{
    /// <summary>
    /// The one way to consume: <typeparamref name="THandler"/> handles every <typeparamref name="TMessage"/> arriving as
    /// <paramref name="define"/> says, on a subscription that restores itself (<see cref="BrokerSubscription"/>).
    /// Subscriptions stop in the reverse order of registration.
    /// </summary>
    public static IServiceCollection AddSubscription<TMessage, THandler>(this IServiceCollection services, Func<IServiceProvider, SubscriptionDefinition<TMessage>> define)
        where TMessage : class
        where THandler : class, IMessageHandler<TMessage>
    {
        // One subscription per message type and host: a second would silently replace the first's handler.
        if (services.Any(d => d.ServiceType == typeof(IMessageHandler<TMessage>)))
        {
            throw new InvalidOperationException($"{typeof(TMessage).Name} already has a subscription in this host.");
        }

        services.AddScoped<IMessageHandler<TMessage>, THandler>();
        services.AddHostedService(sp => new Subscription<TMessage>(
            sp, define(sp), sp.GetRequiredService<SubscriptionHealth>(), sp.GetRequiredService<ILogger<Subscription<TMessage>>>()));
        return services;
    }
}

/// <summary>A subscription to one message type: parses, traces, scopes and dispatches each delivery to its handler, and acts on the outcome.</summary>
public sealed class Subscription<TMessage>(IServiceProvider services, SubscriptionDefinition<TMessage> definition, SubscriptionHealth health, ILogger logger)
    : BrokerSubscription(services, health, logger)
    where TMessage : class
{
    private static readonly TimeSpan RequeueDelay = TimeSpan.FromSeconds(1);

    private readonly FailureCounts _unreadable = new();

    protected override string Source => definition.Source;

    protected override bool AutoAck => definition.AutoAck;

    protected override CreateChannelOptions? ChannelOptions => definition.Concurrency > 1
        ? new CreateChannelOptions(publisherConfirmationsEnabled: false, publisherConfirmationTrackingEnabled: false, consumerDispatchConcurrency: definition.Concurrency)
        : null;

    protected override async Task<string> PrepareAsync(IChannel channel, CancellationToken stoppingToken)
    {
        if (definition.Prefetch is { } prefetch)
        {
            await channel.BasicQosAsync(prefetchSize: 0, prefetchCount: prefetch, global: false, stoppingToken);
        }

        var queue = await definition.Declare(channel, stoppingToken);
        Logger.LogInformation(
            "Consuming {Source} (queue {Queue}) as {Message} with prefetch {Prefetch} and concurrency {Concurrency}",
            Source, queue, typeof(TMessage).Name, definition.Prefetch, definition.Concurrency);
        return queue;
    }

    protected override void OnSubscribed() => definition.OnSubscribed?.Invoke(Services);

    protected override async Task HandleAsync(IChannel channel, BasicDeliverEventArgs delivery, CancellationToken stoppingToken)
    {
        var properties = delivery.BasicProperties;
        var headers = properties.Headers;
        var traceParent = MessagingTelemetry.ReadHeader(headers, MessagingTelemetry.TraceParentHeader);
        using var activity = MessagingTelemetry.Source.StartActivity($"{Source} process", ActivityKind.Consumer, MessagingTelemetry.ParentFrom(traceParent));
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", Source);
        activity?.SetTag("messaging.message.id", properties.MessageId);

        if (stoppingToken.IsCancellationRequested)
        {
            // Prefetched before the stop: another instance takes it.
            await SettleAsync(channel, delivery, DeliveryOutcome.Requeue, pause: false);
            return;
        }

        var context = new MessageContext(
            properties.MessageId,
            properties.Type,
            properties.CorrelationId ?? MessagingTelemetry.ReadHeader(headers, MessagingTelemetry.CorrelationIdHeader),
            MessagingTelemetry.ReadHeader(headers, MessageHeaders.TenantId),
            MessagingTelemetry.ReadHeader(headers, MessageHeaders.TaskId),
            delivery.Redelivered,
            Encoding.UTF8.GetString(delivery.Body.Span));
        var message = definition.Parse(delivery.Body, context);
        if (message is null)
        {
            Logger.LogWarning("Unreadable message {MessageId} on {Source} ({Length} bytes) rejected", properties.MessageId, Source, delivery.Body.Length);
            await SettleAsync(channel, delivery, DeliveryOutcome.Reject, pause: false);
            return;
        }

        using var logScope = Logger.BeginScope(new Dictionary<string, object?> { ["TaskId"] = context.TaskId, ["CorrelationId"] = context.CorrelationId });
        // A message re-driven by hand may have no id: its body names it.
        var key = properties.MessageId ?? context.Body;
        DeliveryOutcome outcome;
        try
        {
            await using var scope = Services.CreateAsyncScope();
            outcome = await scope.ServiceProvider.GetRequiredService<IMessageHandler<TMessage>>().HandleAsync(message, context, stoppingToken);
            _unreadable.Forget(key);
        }
        catch (Exception ex)
        {
            if (definition.UnreadableBeforeRejecting is { } limit && IsUnreadable(ex) && _unreadable.Count(key) >= limit)
            {
                // The same row every time: more tries would change nothing. Whatever it names stays stored as it was.
                Logger.LogError(ex, "Handling message {MessageId} from {Source} failed {Limit} times on a row this build cannot read; rejecting it to the dead-letter queue", properties.MessageId, Source, limit);
                _unreadable.Forget(key);
                outcome = DeliveryOutcome.Reject;
            }
            else
            {
                // Nothing was recorded for this delivery: give it back to the queue for another try.
                Logger.LogError(ex, "Handling message {MessageId} from {Source} failed; requeueing", properties.MessageId, Source);
                outcome = DeliveryOutcome.Requeue;
            }
        }

        // A stopping host gives a delivery back at once: another instance takes it.
        await SettleAsync(channel, delivery, outcome, pause: !stoppingToken.IsCancellationRequested);
    }

    /// <summary>Also when wrapped (EF wraps what a read throws when detailed errors are on).</summary>
    private static bool IsUnreadable(Exception ex) => ex.Find<StoredValueUnreadableException>() is not null;

    private async Task SettleAsync(IChannel channel, BasicDeliverEventArgs delivery, DeliveryOutcome outcome, bool pause)
    {
        if (AutoAck)
        {
            return;
        }

        try
        {
            switch (outcome)
            {
                case DeliveryOutcome.Ack:
                    await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, CancellationToken.None);
                    break;
                case DeliveryOutcome.Reject:
                    await channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: false, CancellationToken.None);
                    break;
                default:
                    if (pause)
                    {
                        // A short pause keeps a failing dependency (database down) from turning this into a spin.
                        await Task.Delay(RequeueDelay, CancellationToken.None);
                    }

                    await channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true, CancellationToken.None);
                    break;
            }
        }
        catch (Exception ex)
        {
            // The channel is gone; the broker redelivers every unacked message of a closed channel.
            Logger.LogWarning(ex, "Could not settle message {MessageId} from {Source}", delivery.BasicProperties.MessageId, Source);
        }
    }
}

/// <summary>Reads task events off <c>task-events</c>: everything but the body comes from the message's properties and headers.</summary>
public static class TaskEventParsing
{
    /// <summary>Null when the tenant, task, id or type is missing (not a message the platform published).</summary>
    public static ReceivedTaskEvent? Parse(ReadOnlyMemory<byte> body, MessageContext context) =>
        context.TenantId is { Length: > 0 } tenantId
        && Guid.TryParse(context.TaskId, out var taskId)
        && Guid.TryParse(context.MessageId, out var eventId)
        && context.Type is { Length: > 0 } type
            ? new ReceivedTaskEvent(eventId, tenantId, taskId, type, Domain.Entities.OutboxMessage.WrittenAt(eventId) ?? DateTimeOffset.UtcNow, context.Body)
            : null;
}
