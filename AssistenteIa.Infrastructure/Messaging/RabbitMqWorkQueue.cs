using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>Reads <c>tasks-queued</c>'s depth with a passive declare, on a channel of its own (a missing queue closes it).</summary>
public sealed class RabbitMqWorkQueue(IServiceProvider services) : IWorkQueue
{
    private const ushort NotFound = 404;

    public async Task<long> CountWaitingAsync(CancellationToken cancellationToken)
    {
        // Resolved here: the connection is opened on first use, and ServiceC starts while the broker is down.
        await using var channel = await services.GetRequiredService<IConnection>().CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            return (await channel.QueueDeclarePassiveAsync(Queues.TasksQueued, cancellationToken)).MessageCount;
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == NotFound)
        {
            return 0;
        }
    }
}
