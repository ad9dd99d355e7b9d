using AssistenteIa.AppHost;

var builder = DistributedApplication.CreateBuilder(args);

// Postgres and RabbitMQ come from containers (default) or from servers already running ("external").
var infrastructure = Infrastructure.Add(builder);

var api = builder.AddProject<Projects.AssistenteIaApi>("api")
    .WithReference(infrastructure.Database).WaitFor(infrastructure.Database)
    .WithReference(infrastructure.Broker).WaitFor(infrastructure.Broker)
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints();
Infrastructure.PinApiPort(builder, api);

// The API applies the migrations, so the workers start once it is healthy.
var executor = builder.AddProject<Projects.AssistenteIaApi_ServiceB_Worker>("serviceb")
    .WithReference(infrastructure.Database).WaitFor(infrastructure.Database)
    .WithReference(infrastructure.Broker).WaitFor(infrastructure.Broker)
    .WaitFor(api)
    .WithHttpHealthCheck("/health");

// A real model when ConnectionStrings:ai is set ("Endpoint=…;Key=…;Model=…"); the built-in local model otherwise.
if (!string.IsNullOrWhiteSpace(builder.Configuration["ConnectionStrings:ai"]))
{
    executor.WithReference(builder.AddConnectionString("ai")).WithEnvironment("Ai__Provider", "OpenAI");
}

builder.AddProject<Projects.AssistenteIaApi_ServiceC_Worker>("servicec")
    .WithReference(infrastructure.Database).WaitFor(infrastructure.Database)
    .WithReference(infrastructure.Broker).WaitFor(infrastructure.Broker)
    .WaitFor(api)
    .WithHttpHealthCheck("/health");

builder.Build().Run();
