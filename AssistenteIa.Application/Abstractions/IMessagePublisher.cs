using AssistenteIa.Domain.Outbox;

namespace AssistenteIa.Application.Abstractions;

/// <summary>Publishes an outbox message to the broker and returns once the broker confirmed it.</summary>
public interface IMessagePublisher
{
    Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken);
}
