using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Infrastructure;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIaApi.ServiceC.Worker.Interfaces.Messaging.Consumers;
using AssistenteIaApi.ServiceC.Worker.Webhooks;

namespace AssistenteIaApi.ServiceC.Worker;

public static class WebhooksRegistration
{
    /// <summary>ServiceC's webhook side: the task-events consumer that stores deliveries and the sender that makes them.</summary>
    public static IHostApplicationBuilder AddWebhookDelivery(this IHostApplicationBuilder builder)
    {
        builder.AddWebhookCore();
        builder.Services.AddScoped<FanOutTaskEventHandler>();
        builder.Services.AddSingleton<WebhookEndpointCache>();
        builder.Services.AddSingleton<WebhookSignal>();
        builder.Services.AddSingleton<WebhookSendLoad>();
        builder.Services.AddSingleton<SubscriptionHealth>();
        builder.Services.AddHealthChecks().AddCheck<SubscriptionHealth>(SubscriptionHealth.Name);
        builder.Services.AddSubscription<ReceivedTaskEvent, TaskEventWebhookHandler>(_ =>
            Subscribe.Queue<ReceivedTaskEvent>(Queues.WebhookTaskEvents) with { Prefetch = 32, Parse = TaskEventParsing.Parse });
        builder.Services.AddHostedService<WebhookSender>();
        builder.Services.AddHostedService<WebhookEventRoutingService>();
        return builder;
    }
}
