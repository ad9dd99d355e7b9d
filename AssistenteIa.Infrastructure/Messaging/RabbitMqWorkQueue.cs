using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>
/// Reads <c>tasks-queued</c>'s depth by declaring it (with the arguments every process declares it with), on a channel
/// of its own: a deleted queue is back for the messages published next, and an answer is never a guess (a passive
/// declare answers "not found" also for a queue whose node is down, its messages safe on disk).
/// </summary>
public sealed class RabbitMqWorkQueue(IServiceProvider services) : IWorkQueue
{
    /// <summary>A blocked or unresponsive broker (a memory or disk alarm) fails the read, not the dispatcher's loop.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <summary>How long closing the channel may take; a broker that does not answer leaves it to the dispose.</summary>
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(1);

    public async Task<long> CountWaitingAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);

        // Resolved here: the connection is opened on first use, and ServiceC starts while the broker is down.
        var channel = await services.GetRequiredService<IConnection>().CreateChannelAsync(cancellationToken: deadline.Token);
        try
        {
            return (await RabbitMqTopology.DeclareTasksQueuedAsync(channel, deadline.Token)).MessageCount;
        }
        finally
        {
            await CloseAsync(channel);
        }
    }

    /// <summary>
    /// Closed, not only disposed: the connection's recovery forgets a channel only once it is closed. The close never
    /// replaces what the read answered or threw: a blocked broker (a memory or disk alarm) answers neither, and a
    /// channel the broker closed is already gone.
    /// </summary>
    private static async Task CloseAsync(IChannel channel)
    {
        try
        {
            if (channel.IsOpen)
            {
                using var closing = new CancellationTokenSource(CloseTimeout);
                await channel.CloseAsync(closing.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException or RabbitMQ.Client.Exceptions.RabbitMQClientException or IOException)
        {
            // Left to the dispose below.
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }
}
