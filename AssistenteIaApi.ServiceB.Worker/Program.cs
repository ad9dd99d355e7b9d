using AssistenteIa.Infrastructure;
using AssistenteIaApi.ServiceB.Worker;

// ServiceB, the executor: consumes tasks-queued, runs each task through the AI client and records the outcome.
var builder = Extensions.CreateServiceBuilder(args);

builder.AddServiceDefaults();
builder.AddApplicationCore();
builder.AddMessaging();
builder.AddTaskExecution();

var app = builder.Build();
app.MapDefaultEndpoints();
await app.RunAsync();
