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
            // Closed, not only disposed: the connection's recovery forgets the channel only once it is closed.
            if (channel.IsOpen)
            {
                await channel.CloseAsync(CancellationToken.None);
            }

            await channel.DisposeAsync();
        }
    }
}
