using System.Net.Http.Headers;
using System.Net.Http.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using AssistenteIa.Application;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// One running AppHost (API, ServiceB, ServiceC) per test collection, against the real local Postgres and
/// RabbitMQ started by <c>scripts/infra.sh</c>. Tests get their own database and virtual host, both
/// recreated empty at start, so they never touch a developer's data.
/// </summary>
public sealed class AppFixture : IAsyncLifetime
{
    public const string TestDatabase = "assistenteia_tests";
    public const string TestVirtualHost = "assistenteia-tests";
    public const string TenantAKey = "dev-key-tenant-a";
    public const string TenantBKey = "dev-key-tenant-b";

    public static readonly string PostgresServer = Environment.GetEnvironmentVariable("TEST_POSTGRES")
        ?? "Host=localhost;Port=5432;Username=postgres;Password=007182";

    public static readonly TimeSpan StartupDeadline = TimeSpan.FromMinutes(3);

    private DistributedApplication? _app;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The app is not started.");

    public string DatabaseConnectionString => $"{PostgresServer};Database={TestDatabase}";

    public string BrokerUri => $"amqp://guest:guest@localhost:5672/{TestVirtualHost}";

    public async ValueTask InitializeAsync()
    {
        using var deadline = new CancellationTokenSource(StartupDeadline);
        await ResetDatabaseAsync(deadline.Token);
        await ResetVirtualHostAsync(deadline.Token);

        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AssistenteIa_AppHost>(
            [
                "--Infrastructure:Mode=external",
                $"--ConnectionStrings:db={DatabaseConnectionString}",
                $"--ConnectionStrings:rabbitmq={BrokerUri}",
                "--Api:Port=0",
            ],
            deadline.Token);

        // Short delays so retries, rescues and heartbeats happen within a test's deadline.
        foreach (var name in new[] { "api", "serviceb", "servicec" })
        {
            builder.CreateResourceBuilder<ProjectResource>(name)
                .WithEnvironment("Tasks__RetryBaseDelay", "00:00:00.300")
                .WithEnvironment("Tasks__RetryMaxDelay", "00:00:02")
                .WithEnvironment("Worker__LeaseDuration", "00:00:05")
                .WithEnvironment("Worker__HeartbeatInterval", "00:00:00.500")
                .WithEnvironment("Dispatcher__PollInterval", "00:00:00.250");
        }

        _app = await builder.BuildAsync(deadline.Token);
        await _app.StartAsync(deadline.Token);
        foreach (var name in new[] { "api", "serviceb", "servicec" })
        {
            await _app.ResourceNotifications.WaitForResourceHealthyAsync(name, deadline.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>A client for the API, authenticated as the given tenant (or anonymous with null).</summary>
    public HttpClient CreateApiClient(string? apiKey = TenantAKey)
    {
        var client = App.CreateHttpClient("api");
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }

        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return client;
    }

    public async Task<T> ScalarAsync<T>(string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (value, index) in parameters.Select((p, i) => (p, i)))
        {
            command.Parameters.AddWithValue($"p{index}", value);
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ResetDatabaseAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection($"{PostgresServer};Database=postgres;Pooling=false");
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {TestDatabase} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task ResetVirtualHostAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = new Uri("http://localhost:15672/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("guest:guest"u8.ToArray()));
        var vhost = Uri.EscapeDataString(TestVirtualHost);
        await http.DeleteAsync($"api/vhosts/{vhost}", cancellationToken);
        (await http.PutAsJsonAsync($"api/vhosts/{vhost}", new { }, cancellationToken)).EnsureSuccessStatusCode();
        (await http.PutAsJsonAsync($"api/permissions/{vhost}/guest", new { configure = ".*", write = ".*", read = ".*" }, cancellationToken)).EnsureSuccessStatusCode();
    }
}

[CollectionDefinition(Name)]
public sealed class AppCollection : ICollectionFixture<AppFixture>
{
    public const string Name = "app";
}

/// <summary>Shared JSON options: the API's own.</summary>
public static class Json
{
    public static readonly System.Text.Json.JsonSerializerOptions Options = JsonDefaults.Options;
}
