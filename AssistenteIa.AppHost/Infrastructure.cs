using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AssistenteIa.AppHost;

/// <summary>The database and broker the services use, chosen by <c>Infrastructure:Mode</c>.</summary>
internal sealed record Infrastructure(
    IResourceBuilder<IResourceWithConnectionString> Database,
    IResourceBuilder<IResourceWithConnectionString> Broker)
{
    public const string DatabaseName = "db";
    public const string BrokerName = "rabbitmq";

    public static Infrastructure Add(IDistributedApplicationBuilder builder)
    {
        var mode = builder.Configuration["Infrastructure:Mode"] ?? "containers";
        return mode.ToLowerInvariant() switch
        {
            "containers" => AddContainers(builder),
            "external" => AddExternal(builder),
            _ => throw new InvalidOperationException($"Infrastructure:Mode must be 'containers' or 'external', not '{mode}'."),
        };
    }

    /// <summary>The API listens on a fixed port (5080 by default) so people and scripts can find it.</summary>
    public static void PinApiPort(IDistributedApplicationBuilder builder, IResourceBuilder<ProjectResource> api)
    {
        if (builder.Configuration.GetValue<int?>("Api:Port") is { } port and > 0)
        {
            api.WithEndpoint("http", endpoint => endpoint.Port = port);
        }
    }

    private static Infrastructure AddContainers(IDistributedApplicationBuilder builder)
    {
        var password = builder.AddParameter("postgres-password", secret: true);
        var postgres = builder.AddPostgres("postgres", password: password, port: 5432).WithDataVolume();
        var database = postgres.AddDatabase(DatabaseName, databaseName: "assistenteia");
        var broker = builder.AddRabbitMQ(BrokerName, port: 5672).WithManagementPlugin(port: 15672).WithDataVolume();
        return new Infrastructure(database, broker);
    }

    /// <summary>
    /// Servers already running (local packages, managed services). Connection strings come from
    /// <c>ConnectionStrings:db</c> / <c>ConnectionStrings:rabbitmq</c> (environment, user-secrets, command line),
    /// and in Development fall back to the seed's local values under <c>External:ConnectionStrings</c>.
    /// </summary>
    private static Infrastructure AddExternal(IDistributedApplicationBuilder builder)
    {
        var db = Require(builder, DatabaseName);
        var rabbit = Require(builder, BrokerName);

        // Without health checks WaitFor() would not wait for the servers. Probe the maintenance database:
        // the application database may not exist until the API migrates it.
        var maintenance = new Npgsql.NpgsqlConnectionStringBuilder(db) { Database = "postgres", Pooling = false }.ConnectionString;
        builder.Services.AddHealthChecks()
            .AddNpgSql(maintenance, name: "db-server")
            .AddRabbitMQ(_ => BrokerProbe.GetConnectionAsync(rabbit), name: "rabbitmq-server");

        var database = builder.AddConnectionString(DatabaseName).WithHealthCheck("db-server");
        var broker = builder.AddConnectionString(BrokerName).WithHealthCheck("rabbitmq-server");
        return new Infrastructure(database, broker);
    }

    private static string Require(IDistributedApplicationBuilder builder, string name)
    {
        var key = $"ConnectionStrings:{name}";
        var value = builder.Configuration[key];
        if (string.IsNullOrWhiteSpace(value) && builder.Environment.EnvironmentName == "Development")
        {
            value = builder.Configuration[$"External:{key}"];
            builder.Configuration[key] = value;
        }

        return string.IsNullOrWhiteSpace(value)
            ? throw new InvalidOperationException(
                $"Environment '{builder.Environment.EnvironmentName}' runs in external mode but {key} is not set. " +
                $"Set it with the environment variable ConnectionStrings__{name}, user-secrets or --{key}=… (no secret is committed for Stagging or Production).")
            : value;
    }
}

/// <summary>One probe connection to the external broker, reopened only when it was lost.</summary>
internal static class BrokerProbe
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static RabbitMQ.Client.IConnection? _connection;

    public static async Task<RabbitMQ.Client.IConnection> GetConnectionAsync(string uri)
    {
        await Gate.WaitAsync();
        try
        {
            if (_connection is not { IsOpen: true })
            {
                if (_connection is not null)
                {
                    await _connection.DisposeAsync();
                }

                _connection = await new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(uri), AutomaticRecoveryEnabled = false }.CreateConnectionAsync();
            }

            return _connection;
        }
        finally
        {
            Gate.Release();
        }
    }
}
