using AssistenteIa.Domain.Entities;

namespace AssistenteIa.Application.Ports.Out;

/// <summary>Publishes outbox messages to the broker and returns once the broker confirmed them.</summary>
public interface IMessagePublisher
{
    Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Publishes a batch (one task's rows or many tasks') so that the broker receives and routes it in this order, and
    /// waits for the confirms: one result per row, null when confirmed (a row of several task events goes out as one
    /// message per event, and is confirmed when all of them are). A failure does not stop the rows already
    /// sent; what follows a broken channel fails with it.
    /// </summary>
    Task<IReadOnlyList<Exception?>> PublishInOrderAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken);
}
