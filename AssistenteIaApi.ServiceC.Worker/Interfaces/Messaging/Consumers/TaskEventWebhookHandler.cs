using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIaApi.ServiceC.Worker.Webhooks;

namespace AssistenteIaApi.ServiceC.Worker.Interfaces.Messaging.Consumers;

/// <summary>
/// Every task event, from the durable queue <c>webhooks.task-events</c> shared by the ServiceC instances: stores a
/// delivery per subscribed endpoint before the message is acknowledged (a failure requeues it); the
/// <see cref="WebhookSender"/> sends them. It is woken only when it could claim one now: a delivery for an endpoint or a
/// tenant this process is sending all it may to is claimed when one of those sends ends (<see cref="WebhookSendLoad"/>).
/// </summary>
public sealed class TaskEventWebhookHandler(FanOutTaskEventHandler fanOut, WebhookSignal signal, WebhookSendLoad load) : IMessageHandler<ReceivedTaskEvent>
{
    public async Task<DeliveryOutcome> HandleAsync(ReceivedTaskEvent message, MessageContext context, CancellationToken cancellationToken)
    {
        var endpoints = await fanOut.HandleAsync(message, cancellationToken);
        if (endpoints.Count > 0 && load.CouldClaim(message.TenantId, endpoints))
        {
            signal.WakeFor(message.TenantId, endpoints);
        }

        return DeliveryOutcome.Ack;
    }
}
