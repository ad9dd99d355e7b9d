using AssistenteIa.Domain.Entities;

namespace AssistenteIa.Application.Ports.Out;

/// <summary>Publishes an outbox message to the broker and returns once the broker confirmed it.</summary>
public interface IMessagePublisher
{
    Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken);
}
