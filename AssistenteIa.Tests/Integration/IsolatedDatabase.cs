using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// A migrated database of its own on the real Postgres, with no dispatcher or executor running against it, and a
/// real publisher on the test virtual host: for races between the application's own steps, decided by the database.
/// </summary>
public sealed class IsolatedDatabase : IAsyncLifetime
{
    public const string Name = "assistenteia_isolated";
    public const string VirtualHost = "assistenteia-isolated";

    private IConnection? _connection;
    private ServiceProvider? _services;

    public string ConnectionString => $"{AppFixture.PostgresServer};Database={Name}";

    public IMessagePublisher Publisher => _services!.GetRequiredService<IMessagePublisher>();

    public IServiceProvider Services => _services!;

    public async ValueTask InitializeAsync()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await AppFixture.ResetDatabaseAsync(Name, deadline.Token);

        // The drop terminated the connections an earlier class left idle in this process's pool: handed out again,
        // they fail with 57P01 (the migration below was the first to get one).
        Npgsql.NpgsqlConnection.ClearAllPools();
        await using (var db = CreateDbContext())
        {
            await db.Database.MigrateAsync(deadline.Token);
        }

        _connection = await CreateVirtualHostAndConnectAsync(deadline.Token);
        var services = new ServiceCollection();
        services.AddSingleton(_connection);
        services.AddMetrics();
        services.AddSingleton<RabbitMqPublisher>();
        services.AddSingleton<IMessagePublisher>(sp => sp.GetRequiredService<RabbitMqPublisher>());
        _services = services.BuildServiceProvider();
    }

    /// <summary>
    /// Empties <c>tasks-queued</c> on the isolated virtual host, declaring it first: the steps' work messages pile up
    /// there, since no worker consumes them.
    /// </summary>
    public async Task PurgeWorkQueueAsync()
    {
        await using var channel = await _connection!.CreateChannelAsync();
        await RabbitMqTopology.DeclareAsync(channel, CancellationToken.None);
        await channel.QueuePurgeAsync(Queues.TasksQueued);
    }

    /// <summary>Deletes <c>tasks-queued</c> on the isolated virtual host, as an operator or a lost broker node would.</summary>
    public async Task DeleteWorkQueueAsync()
    {
        await using var channel = await _connection!.CreateChannelAsync();
        await channel.QueueDeleteAsync(Queues.TasksQueued);
    }

    public AppDbContext CreateDbContext() => new(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(ConnectionString).Options);

    public async ValueTask DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
    }

    private static async Task<IConnection> CreateVirtualHostAndConnectAsync(CancellationToken cancellationToken)
    {
        using var management = AppFixture.CreateManagementClient();
        await management.DeleteAsync($"api/vhosts/{VirtualHost}", cancellationToken);
        (await management.PutAsync($"api/vhosts/{VirtualHost}", null, cancellationToken)).EnsureSuccessStatusCode();
        using var permissions = new StringContent("""{"configure":".*","write":".*","read":".*"}""", System.Text.Encoding.UTF8, "application/json");
        (await management.PutAsync($"api/permissions/{VirtualHost}/guest", permissions, cancellationToken)).EnsureSuccessStatusCode();
        return await new ConnectionFactory { Uri = new Uri($"amqp://guest:guest@localhost:5672/{VirtualHost}") }.CreateConnectionAsync(cancellationToken);
    }
}
