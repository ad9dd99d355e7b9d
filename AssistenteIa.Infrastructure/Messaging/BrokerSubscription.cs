using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// A long-lived consumer: opens a channel on the shared connection, declares the topology, subscribes, and
/// starts again after a pause when that fails (broker not up yet). Once subscribed, the client's automatic
/// recovery restores connection, channel and consumer after a broker restart.
/// </summary>
public abstract class BrokerSubscription(IServiceProvider services, ILogger logger) : BackgroundService
{
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(2);

    protected IServiceProvider Services { get; } = services;

    protected ILogger Logger { get; } = logger;

    /// <summary>What is consumed, for log lines.</summary>
    protected abstract string Source { get; }

    protected virtual CreateChannelOptions? ChannelOptions => null;

    /// <summary>Declares what only this subscription needs and starts consuming on <paramref name="channel"/>.</summary>
    protected abstract Task SubscribeAsync(IChannel channel, CancellationToken stoppingToken);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var connection = Services.GetRequiredService<IConnection>();
                await using var channel = await connection.CreateChannelAsync(ChannelOptions, stoppingToken);
                await RabbitMqTopology.DeclareAsync(channel, stoppingToken);
                await SubscribeAsync(channel, stoppingToken);
                await Task.Delay(Timeout.Infinite, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                Logger.LogWarning(ex, "Cannot consume {Source} now; retrying in {Delay}", Source, ReconnectDelay);
                await Task.Delay(ReconnectDelay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }
}
