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
builder.AddProject<Projects.AssistenteIaApi_ServiceB_Worker>("serviceb")
    .WithReference(infrastructure.Database).WaitFor(infrastructure.Database)
    .WithReference(infrastructure.Broker).WaitFor(infrastructure.Broker)
    .WaitFor(api)
    .WithHttpHealthCheck("/health");

builder.AddProject<Projects.AssistenteIaApi_ServiceC_Worker>("servicec")
    .WithReference(infrastructure.Database).WaitFor(infrastructure.Database)
    .WithReference(infrastructure.Broker).WaitFor(infrastructure.Broker)
    .WaitFor(api)
    .WithHttpHealthCheck("/health");

builder.Build().Run();
