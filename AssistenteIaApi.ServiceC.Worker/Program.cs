using AssistenteIa.Infrastructure;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIaApi.ServiceC.Worker;

// ServiceC, the dispatcher: relays the outbox, queues due retries, rescues tasks whose worker died and delivers webhooks.
var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationCore();
builder.AddMessaging();
builder.AddDispatcher();
builder.AddWebhookDelivery();

var app = builder.Build();
app.MapDefaultEndpoints();
await app.RunAsync();
