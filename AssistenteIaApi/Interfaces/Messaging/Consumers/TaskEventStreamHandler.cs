using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;
using AssistenteIa.Infrastructure.Messaging;

namespace AssistenteIaApi.Interfaces.Messaging.Consumers;

/// <summary>
/// Feeds this API instance's event streams from its own exclusive queue on <c>task-events</c> (every instance sees
/// every event). Auto-acknowledged: a missed event is read from the outbox by the stream; whenever the subscription
/// starts again, the streams are told to catch up.
/// </summary>
public sealed class TaskEventStreamHandler(TaskEventHub hub) : IMessageHandler<ReceivedTaskEvent>
{
    public Task<DeliveryOutcome> HandleAsync(ReceivedTaskEvent message, MessageContext context, CancellationToken cancellationToken)
    {
        hub.Publish(message.TenantId, new TaskEventEnvelope(message.EventId, message.TaskId, message.Type, message.Json, message.At));
        return Task.FromResult(DeliveryOutcome.Ack);
    }
}
