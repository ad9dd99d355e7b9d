using System.Net.Http.Headers;
using System.Net.Http.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using AssistenteIa.Application;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// One running AppHost (API, ServiceB, ServiceC) per test collection, against the real local Postgres and
/// RabbitMQ started by <c>scripts/infra.sh</c>. Tests get their own database and virtual host, both
/// recreated empty at start, so they never touch a developer's data.
/// </summary>
public class AppFixture : IAsyncLifetime
{
    public const string TenantAKey = "dev-key-tenant-a";
    public const string TenantBKey = "dev-key-tenant-b";

    public static readonly string PostgresServer = Environment.GetEnvironmentVariable("TEST_POSTGRES")
        ?? "Host=localhost;Port=5432;Username=postgres;Password=007182";

    public static readonly TimeSpan StartupDeadline = TimeSpan.FromMinutes(3);

    /// <summary>A secret ServiceB holds for integration calls to 127.0.0.1 (<c>Integrations:Secrets:partnerToken</c>); tasks name it, never give it.</summary>
    public const string IntegrationSecretName = "partnerToken";

    /// <summary>How many requests of one tenant the API runs at once (<c>LoadShedding</c>); twice as many more wait, the rest are 429.</summary>
    public const int TenantShare = 4;

    /// <summary>A tenant the API limits to <see cref="ThrottledRate"/> requests a second in bursts of <see cref="ThrottledBurst"/> (<c>RateLimits:Tenants</c>).</summary>
    public const string ThrottledTenant = "throttled-tenant";
    public const int ThrottledRate = 2;
    public const int ThrottledBurst = 5;
    public const string IntegrationSecretValue = "it-secret-7f3a9c-partner";
    public const int IntegrationMaxResponseBytes = 64 * 1024;
    public static readonly TimeSpan IntegrationTimeout = TimeSpan.FromSeconds(2);

    private DistributedApplication? _app;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The app is not started.");

    /// <summary>TEST_INSTANCE names a separate database and virtual host, so two checkouts can run tests side by side.</summary>
    public static readonly string InstanceSuffix = Environment.GetEnvironmentVariable("TEST_INSTANCE") is { Length: > 0 } instance ? "_" + instance : "";

    public virtual string TestDatabase => "assistenteia_tests" + InstanceSuffix;

    public virtual string TestVirtualHost => "assistenteia-tests" + InstanceSuffix;

    public string DatabaseConnectionString => $"{PostgresServer};Database={TestDatabase}";

    public string BrokerUri => $"amqp://guest:guest@localhost:5672/{TestVirtualHost}";

    /// <summary>The management API of the test virtual host's broker, as guest.</summary>
    public static HttpClient CreateManagementClient()
    {
        var http = new HttpClient { BaseAddress = new Uri("http://localhost:15672/"), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("guest:guest"u8.ToArray()));
        return http;
    }

    public async ValueTask InitializeAsync()
    {
        using var deadline = new CancellationTokenSource(StartupDeadline);
        await ResetDatabaseAsync(TestDatabase, deadline.Token);
        await ResetVirtualHostAsync(TestVirtualHost, deadline.Token);

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
                .WithEnvironment("Tasks__MaxCriticalPerTenant", "5")
                .WithEnvironment("Worker__LeaseDuration", "00:00:05")
                .WithEnvironment("Worker__HeartbeatInterval", "00:00:00.500")
                .WithEnvironment("Dispatcher__PollInterval", "00:00:00.250")
                .WithEnvironment("Dispatcher__HousekeepingInterval", "00:00:00.500")
                .WithEnvironment("Dispatcher__RequeueQueuedAfter", "00:00:03")
                .WithEnvironment("TaskEvents__HeartbeatInterval", "00:00:01")
                .WithEnvironment("TaskEvents__FeedLinger", "00:00:01")
                .WithEnvironment("TaskEvents__ListenerLease", "00:00:04")
                .WithEnvironment("Outbound__AllowLoopback", "true")
                .WithEnvironment("Ai__Prices__local-hashed-ngrams-v1__PerUnit", "0.001")
                .WithEnvironment("Webhooks__RetryBaseDelay", "00:00:01")
                .WithEnvironment("Webhooks__RetryFactor", "2")
                .WithEnvironment("Webhooks__MaxAttempts", "4")
                .WithEnvironment("Webhooks__DisableAfterFailures", "6")
                .WithEnvironment("Webhooks__Timeout", "00:00:02")
                .WithEnvironment("Webhooks__PollInterval", "00:00:00.200")
                .WithEnvironment($"Integrations__Secrets__{IntegrationSecretName}__Value", IntegrationSecretValue)
                .WithEnvironment($"Integrations__Secrets__{IntegrationSecretName}__AllowedHosts__0", "127.0.0.1")

                // The test partner is a loopback server without TLS; a real secret keeps the default (https only).
                .WithEnvironment($"Integrations__Secrets__{IntegrationSecretName}__AllowHttp", "true")
                .WithEnvironment("Integrations__Timeout", IntegrationTimeout.ToString())
                .WithEnvironment("Integrations__MaxResponseBytes", IntegrationMaxResponseBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        builder.CreateResourceBuilder<ProjectResource>("api")
            .WithEnvironment($"RateLimits__Tenants__{ThrottledTenant}__RequestsPerSecond", ThrottledRate.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment($"RateLimits__Tenants__{ThrottledTenant}__Burst", ThrottledBurst.ToString(System.Globalization.CultureInfo.InvariantCulture))

            // Small places, so a test's burst meets them; the tests themselves send a few requests at a time.
            .WithEnvironment("LoadShedding__MaxConcurrentRequests", "8")
            .WithEnvironment("LoadShedding__MaxConcurrentRequestsPerTenant", TenantShare.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .WithEnvironment("LoadShedding__QueueLimit", (2 * TenantShare).ToString(System.Globalization.CultureInfo.InvariantCulture));

        Configure(builder);

        _app = await builder.BuildAsync(deadline.Token);
        await _app.StartAsync(deadline.Token);
        foreach (var name in new[] { "api", "serviceb", "servicec" })
        {
            await _app.ResourceNotifications.WaitForResourceHealthyAsync(name, deadline.Token);
        }
    }

    /// <summary>Changes to the application model a derived fixture needs (replicas, settings).</summary>
    protected virtual void Configure(IDistributedApplicationTestingBuilder builder)
    {
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        GC.SuppressFinalize(this);
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

    /// <summary>
    /// A client for a tenant of its own, with no tasks or endpoints yet: what it sees is only what the test made, never
    /// the trailing events of an earlier test in the collection.
    /// </summary>
    public async Task<HttpClient> CreateTenantClientAsync(string prefix)
    {
        await using var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(DatabaseConnectionString).Options);
        var key = await ApiKeyCacheTests.Service(db).CreateKeyAsync($"{prefix}-{Guid.NewGuid():N}"[..24], $"{prefix} test", CancellationToken.None);
        return CreateApiClient(key);
    }

    public Task ExecuteAsync(string sql) => Sql.ExecuteAsync(DatabaseConnectionString, sql);

    /// <summary>
    /// Registers a listener of task events (they are published only while one is live, see <c>TaskEventDemand</c>) for
    /// a test that reads them from the broker itself; removed when disposed.
    /// </summary>
    public async Task<IAsyncDisposable> ListenToTaskEventsAsync()
    {
        var name = $"test.{Guid.NewGuid():N}";
        await using (var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(DatabaseConnectionString).Options))
        {
            await TaskEventDemand.EnsureAsync(db, name, TimeSpan.FromMinutes(10), CancellationToken.None);
        }

        return new Listener(this, name);
    }

    private sealed class Listener(AppFixture fixture, string name) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await using var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(fixture.DatabaseConnectionString).Options);
            await TaskEventDemand.RemoveAsync(db, name, CancellationToken.None);
        }
    }

    /// <summary>Waits for a resource that was stopped or killed to exit, starts it again and waits until it is healthy.</summary>
    public async Task RestartAsync(string resource, TimeSpan deadline)
    {
        using var cts = new CancellationTokenSource(deadline);
        await App.ResourceNotifications.WaitForResourceAsync(resource, e => e.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart", cts.Token);
        var commands = App.Services.GetRequiredService<ResourceCommandService>();
        var result = await commands.ExecuteCommandAsync(resource, "resource-start", cts.Token);
        Assert.True(result.Success, result.Message);
        await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
    }

    /// <summary>The process id of a running project resource (from its Aspire snapshot).</summary>
    public async Task<int> ProcessIdAsync(string resource)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var running = await App.ResourceNotifications.WaitForResourceAsync(
            resource, e => e.Snapshot.State?.Text == "Running" && e.Snapshot.Properties.Any(p => p.Name == "executable.pid" && p.Value is not null), cts.Token);
        return Convert.ToInt32(running.Snapshot.Properties.First(p => p.Name == "executable.pid").Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    public Task<T> ScalarAsync<T>(string sql, params object[] parameters) => Sql.ScalarAsync<T>(DatabaseConnectionString, sql, parameters);

    public static async Task ResetDatabaseAsync(string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection($"{PostgresServer};Database=postgres;Pooling=false");
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task ResetVirtualHostAsync(string virtualHost, CancellationToken cancellationToken)
    {
        using var http = CreateManagementClient();
        var vhost = Uri.EscapeDataString(virtualHost);
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

/// <summary>The whole system with two API instances, two executors and two dispatchers, in a database and virtual host of its own.</summary>
public sealed class ReplicatedAppFixture : AppFixture
{
    public const int Replicas = 2;

    public override string TestDatabase => "assistenteia_tests_replicas" + InstanceSuffix;

    public override string TestVirtualHost => "assistenteia-tests-replicas" + InstanceSuffix;

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        builder.CreateResourceBuilder<ProjectResource>("api").WithReplicas(Replicas);
        builder.CreateResourceBuilder<ProjectResource>("serviceb").WithReplicas(Replicas);
        builder.CreateResourceBuilder<ProjectResource>("servicec").WithReplicas(Replicas);
    }
}

[CollectionDefinition(Name)]
public sealed class ReplicatedAppCollection : ICollectionFixture<ReplicatedAppFixture>
{
    public const string Name = "replicated app";
}

/// <summary>Shared JSON options: the API's own.</summary>
public static class Json
{
    public static readonly System.Text.Json.JsonSerializerOptions Options = JsonDefaults.Options;
}
