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
if (builder.Configuration["ConnectionStrings:ai"] is { Length: > 0 } ai)
{
    executor.WithReference(builder.AddConnectionString("ai")).WithEnvironment("Ai__Provider", "OpenAI");

    // The model named in the connection string is the default, for the executor and for the API's check of payload.model.
    if (new System.Data.Common.DbConnectionStringBuilder { ConnectionString = ai }.TryGetValue("Model", out var model) && model is string { Length: > 0 } name)
    {
        executor.WithEnvironment("Ai__DefaultModel", name);
        api.WithEnvironment("Ai__DefaultModel", name);
    }
}

builder.AddProject<Projects.AssistenteIaApi_ServiceC_Worker>("servicec")
    .WithReference(infrastructure.Database).WaitFor(infrastructure.Database)
    .WithReference(infrastructure.Broker).WaitFor(infrastructure.Broker)
    .WaitFor(api)
    .WithHttpHealthCheck("/health");

builder.Build().Run();
