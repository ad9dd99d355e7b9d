using AssistenteIa.Domain.Entities;

namespace AssistenteIa.Application.Ports.Out;

/// <summary>Publishes outbox messages to the broker and returns once the broker confirmed them.</summary>
public interface IMessagePublisher
{
    Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Publishes messages that must reach the broker in this order (one task's rows) and waits for their confirms;
    /// one result per message, null when confirmed. This default waits for each confirm before the next publish.
    /// </summary>
    async Task<IReadOnlyList<Exception?>> PublishInOrderAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
    {
        var results = new Exception?[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            try
            {
                await PublishAsync(messages[i], cancellationToken);
            }
            catch (Exception ex)
            {
                // The ones after a failure are not tried: they would overtake it.
                for (var j = i; j < messages.Count; j++)
                {
                    results[j] = ex;
                }

                break;
            }
        }

        return results;
    }
}
