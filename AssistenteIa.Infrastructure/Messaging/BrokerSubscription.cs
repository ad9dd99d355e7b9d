using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// A long-lived consumer that never dies quietly: it opens its own channel, declares the topology, subscribes, and
/// then watches the channel and the consumer. When the broker closes the channel (consumer ack timeout, a
/// connection lost) or cancels the consumer (queue deleted), it tears the channel down and subscribes again
/// on a new one. <see cref="SubscriptionHealth"/> reports it down meanwhile, so <c>/health</c> turns unhealthy.
/// The client's topology recovery is off: this loop is the one place that restores consumers.
/// </summary>
public abstract class BrokerSubscription(IServiceProvider services, SubscriptionHealth health, ILogger logger) : BackgroundService
{
    private static readonly TimeSpan ResubscribeDelay = TimeSpan.FromSeconds(1);

    /// <summary>How long a stopping host lets deliveries in progress record their outcome before the channel closes.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(20);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<Task, byte> _inFlight = new();

    protected IServiceProvider Services { get; } = services;

    protected ILogger Logger { get; } = logger;

    /// <summary>What is consumed, for log lines and the health report.</summary>
    protected abstract string Source { get; }

    protected virtual CreateChannelOptions? ChannelOptions => null;

    protected virtual bool AutoAck => false;

    /// <summary>Declares what only this subscription needs (QoS, private queues, bindings); returns the queue to consume.</summary>
    protected abstract Task<string> PrepareAsync(IChannel channel, CancellationToken stoppingToken);

    /// <summary>Called each time the subscription is (again) consuming: what was published while it was down did not reach it.</summary>
    protected virtual void OnSubscribed()
    {
    }

    /// <summary>Handles one delivery; acks or nacks it on <paramref name="channel"/> unless <see cref="AutoAck"/>.</summary>
    protected abstract Task HandleAsync(IChannel channel, BasicDeliverEventArgs delivery, CancellationToken stoppingToken);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        health.Register(Source);
        while (!stoppingToken.IsCancellationRequested)
        {
            IChannel? channel = null;
            string? consumerTag = null;
            try
            {
                var lost = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                var connection = Services.GetRequiredService<IConnection>();
                channel = await connection.CreateChannelAsync(ChannelOptions, stoppingToken);
                channel.ChannelShutdownAsync += (_, e) =>
                {
                    lost.TrySetResult($"channel closed by {e.Initiator}: {e.ReplyCode} {e.ReplyText}");
                    return Task.CompletedTask;
                };

                await RabbitMqTopology.DeclareAsync(channel, stoppingToken);
                var queue = await PrepareAsync(channel, stoppingToken);
                var consumer = new AsyncEventingBasicConsumer(channel);
                var subscribed = channel;
                consumer.ReceivedAsync += (_, delivery) => TrackAsync(HandleAsync(subscribed, delivery, stoppingToken));

                // Fired by a broker-initiated basic.cancel (queue deleted) as well as by our own cancel.
                consumer.UnregisteredAsync += (_, _) =>
                {
                    lost.TrySetResult("consumer cancelled by the broker");
                    return Task.CompletedTask;
                };
                consumerTag = await channel.BasicConsumeAsync(queue, AutoAck, consumer, stoppingToken);
                health.Up(Source);
                OnSubscribed();
                Logger.LogInformation("Subscribed to {Source} (queue {Queue})", Source, queue);

                var reason = await lost.Task.WaitAsync(stoppingToken);
                health.Down(Source, reason);
                Logger.LogWarning("Subscription to {Source} lost ({Reason}); subscribing again", Source, reason);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                health.Down(Source, ex.Message);
                Logger.LogWarning(ex, "Cannot consume {Source} now; retrying in {Delay}", Source, ResubscribeDelay);
            }
            finally
            {
                if (channel is not null)
                {
                    if (stoppingToken.IsCancellationRequested)
                    {
                        await StopConsumingAsync(channel, consumerTag);
                    }

                    // Also when the broker closed the channel: the next channel must not run more deliveries at once
                    // than the concurrency allows while these still finish.
                    await DrainAsync();

                    await CloseQuietlyAsync(channel);
                }
            }

            await Task.Delay(ResubscribeDelay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task TrackAsync(Task handling)
    {
        _inFlight.TryAdd(handling, 0);
        try
        {
            await handling;
        }
        finally
        {
            _inFlight.TryRemove(handling, out _);
        }
    }

    /// <summary>No new deliveries during a stop: the broker keeps what is not yet handed to us for the next consumer.</summary>
    private async Task StopConsumingAsync(IChannel channel, string? consumerTag)
    {
        if (consumerTag is null || !channel.IsOpen)
        {
            return;
        }

        try
        {
            await channel.BasicCancelAsync(consumerTag, noWait: false, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Logger.LogDebug(ex, "Cancelling the consumer of {Source} failed", Source);
        }
    }

    /// <summary>
    /// Waits for deliveries in progress. On a graceful stop they see the stopping token, record their outcome and ack on
    /// the still-open channel (a handler that had not started, such as a task delivery still waiting for an execution
    /// slot, gives its delivery back instead); after a lost channel they record their outcome and the broker redelivers
    /// their message, which the claim then ignores.
    /// </summary>
    private async Task DrainAsync()
    {
        var pending = _inFlight.Keys.ToList();
        if (pending.Count == 0)
        {
            return;
        }

        Logger.LogInformation("Waiting for {Count} deliveries of {Source} to finish before closing the channel", pending.Count, Source);
        try
        {
            await Task.WhenAll(pending).WaitAsync(DrainTimeout);
        }
        catch (Exception ex)
        {
            Logger.LogWarning(ex, "Deliveries of {Source} did not finish in {Timeout}; the broker will redeliver them", Source, DrainTimeout);
        }
    }

    private async Task CloseQuietlyAsync(IChannel channel)
    {
        try
        {
            await channel.DisposeAsync();
        }
        catch (Exception ex)
        {
            // A channel the broker already closed may refuse to close again; nothing is left to release.
            Logger.LogDebug(ex, "Closing the channel of {Source} failed", Source);
        }
    }
}
