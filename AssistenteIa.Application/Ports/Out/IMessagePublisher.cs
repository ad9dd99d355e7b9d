using AssistenteIa.Domain.Entities;

namespace AssistenteIa.Application.Ports.Out;

/// <summary>Publishes outbox messages to the broker and returns once the broker confirmed them.</summary>
public interface IMessagePublisher
{
    Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Publishes a batch (one task's rows or many tasks') so that the broker receives and routes it in this order, and
    /// waits for the confirms: one result per message, null when confirmed. A failure does not stop the rows already
    /// sent; what follows a broken channel fails with it.
    /// </summary>
    Task<IReadOnlyList<Exception?>> PublishInOrderAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken);
}
