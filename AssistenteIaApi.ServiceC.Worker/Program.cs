using AssistenteIa.Infrastructure;
using AssistenteIaApi.ServiceC.Worker;
using AssistenteIaApi.ServiceC.Worker.Dispatching;

// ServiceC, the dispatcher: relays the outbox, queues due retries, rescues tasks whose worker died and delivers webhooks.
var builder = Extensions.CreateServiceBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationCore();
builder.AddMessaging();
builder.AddDispatcher();
builder.AddWebhookDelivery();

var app = builder.Build();
app.MapDefaultEndpoints();
await app.RunAsync();
