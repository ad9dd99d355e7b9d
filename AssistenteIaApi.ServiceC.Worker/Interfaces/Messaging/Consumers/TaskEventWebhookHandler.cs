using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIaApi.ServiceC.Worker.Webhooks;

namespace AssistenteIaApi.ServiceC.Worker.Interfaces.Messaging.Consumers;

/// <summary>
/// Every task event, from the durable queue <c>webhooks.task-events</c> shared by the ServiceC instances: stores a
/// delivery per subscribed endpoint before the message is acknowledged (a failure requeues it); the
/// <see cref="WebhookSender"/> sends them.
/// </summary>
public sealed class TaskEventWebhookHandler(FanOutTaskEventHandler fanOut, WebhookSignal signal) : IMessageHandler<ReceivedTaskEvent>
{
    public async Task<DeliveryOutcome> HandleAsync(ReceivedTaskEvent message, MessageContext context, CancellationToken cancellationToken)
    {
        if (await fanOut.HandleAsync(message, cancellationToken) > 0)
        {
            signal.Wake();
        }

        return DeliveryOutcome.Ack;
    }
}
