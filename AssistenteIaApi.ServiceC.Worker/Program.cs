using AssistenteIa.Infrastructure;
using AssistenteIa.Infrastructure.Messaging;

// ServiceC, the dispatcher: relays the outbox, queues due retries and rescues tasks whose worker died.
var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationCore();
builder.AddMessaging();
builder.AddDispatcher();

var app = builder.Build();
app.MapDefaultEndpoints();
await app.RunAsync();
