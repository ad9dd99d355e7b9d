using System.Text;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Infrastructure.Messaging;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace AssistenteIa.Tests.Integration;

/// <summary>Whether task events are copied to ServiceC's webhook queue, on a database and a virtual host nothing else touches.</summary>
public sealed class WebhookEventRoutingTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    [Fact]
    public async Task Task_events_reach_the_webhook_queue_only_while_an_endpoint_is_enabled()
    {
        await StartWithoutEndpointsAsync();

        Assert.Empty(await ReconcileAsync());
        Assert.Equal(0u, await CopiesOfOneEventAsync());

        // Unbinding what is not bound is no error; what agrees with the caller's state is not sent again.
        Assert.Empty(await ReconcileAsync());
        Assert.Empty(await ReconcileAsync(known: []));

        await AddEndpointAsync("task.succeeded");
        Assert.Equal(["task.succeeded"], await ReconcileAsync(known: ["task.succeeded"]));
        Assert.Equal(0u, await CopiesOfOneEventAsync());
        Assert.Equal(["task.succeeded"], await ReconcileAsync());
        Assert.Equal(1u, await CopiesOfOneEventAsync());

        // The binding goes with a listener of task events: without one they are not published at all.
        Assert.True(await WebhooksListenAsync());

        await Sql.ExecuteAsync(isolated.ConnectionString, """UPDATE "WebhookEndpoints" SET "Enabled" = false""");
        Assert.Empty(await ReconcileAsync());
        Assert.Equal(0u, await CopiesOfOneEventAsync());
        Assert.False(await WebhooksListenAsync());
    }

    [Fact]
    public async Task Only_the_types_enabled_endpoints_take_are_copied_and_a_type_stored_outside_them_is_never_bound()
    {
        // As an earlier version left it: every event copied.
        await StartWithoutEndpointsAsync();
        Assert.Equal(1u, await CopiesOfOneEventAsync("task.created"));

        // An endpoint that takes outcomes: the create's, claim's events are not copied any more.
        await AddEndpointAsync("task.succeeded", "task.deadlettered");
        Assert.Equal(["task.deadlettered", "task.succeeded"], await ReconcileAsync());
        Assert.Equal(0u, await CopiesOfOneEventAsync("task.created"));
        Assert.Equal(0u, await CopiesOfOneEventAsync("task.started"));
        Assert.Equal(1u, await CopiesOfOneEventAsync("task.succeeded"));
        Assert.Equal(1u, await CopiesOfOneEventAsync("task.deadlettered"));

        // Another takes failures too: added without a full reset, and one copy a message whatever the endpoints.
        var second = await AddEndpointAsync("task.failed", "task.succeeded");
        Assert.Equal(["task.deadlettered", "task.failed", "task.succeeded"], await ReconcileAsync(known: ["task.deadlettered", "task.succeeded"]));
        Assert.Equal(1u, await CopiesOfOneEventAsync("task.failed"));
        Assert.Equal(1u, await CopiesOfOneEventAsync("task.succeeded"));

        // The first disabled: its types that no other endpoint takes stop.
        await Sql.ExecuteAsync(isolated.ConnectionString, $"""UPDATE "WebhookEndpoints" SET "Enabled" = false WHERE "Id" <> '{second}'""");
        Assert.Equal(["task.failed", "task.succeeded"], await ReconcileAsync(known: ["task.deadlettered", "task.failed", "task.succeeded"]));
        Assert.Equal(0u, await CopiesOfOneEventAsync("task.deadlettered"));
        Assert.Equal(1u, await CopiesOfOneEventAsync("task.failed"));

        // A row edited by hand to name a wildcard or an unknown type binds nothing of it.
        await Sql.ExecuteAsync(isolated.ConnectionString, """UPDATE "WebhookEndpoints" SET "Events" = ARRAY['#', 'task.*', 'task.succeeded']""");
        Assert.Equal(["task.succeeded"], await ReconcileAsync());
        Assert.Equal(0u, await CopiesOfOneEventAsync("task.failed"));
        Assert.Equal(0u, await CopiesOfOneEventAsync("task.created"));
        Assert.Equal(1u, await CopiesOfOneEventAsync("task.succeeded"));
    }

    [Fact]
    public async Task The_API_opens_the_copies_of_the_types_its_new_endpoint_takes()
    {
        await StartWithoutEndpointsAsync();
        await AddEndpointAsync("task.succeeded");
        Assert.Equal(["task.succeeded"], await ReconcileAsync());

        await AddEndpointAsync("task.cancelled");
        await using (var api = isolated.CreateDbContext())
        {
            await new WebhookEventRouting(api, isolated.Services).OpenAsync(["task.cancelled"], CancellationToken.None);
        }

        Assert.Equal(1u, await CopiesOfOneEventAsync("task.cancelled"));
        Assert.Equal(1u, await CopiesOfOneEventAsync("task.succeeded"));
        Assert.Equal(0u, await CopiesOfOneEventAsync("task.created"));
    }

    private Task<bool> WebhooksListenAsync() => Sql.ScalarAsync<bool>(
        isolated.ConnectionString, """SELECT EXISTS (SELECT 1 FROM "EventListeners" WHERE "Name" = @p0 AND "Until" > now())""", WebhookEventRouting.ListenerName);

    [Fact]
    public async Task An_endpoint_committed_while_ServiceC_decides_to_stop_the_copies_gets_them_once_the_API_has_opened_them()
    {
        await StartWithoutEndpointsAsync();

        // ServiceC's decision under way: it holds the lock and has read no enabled endpoint.
        await using var serviceC = isolated.CreateDbContext();
        await using var decision = await serviceC.Database.BeginTransactionAsync();
        await serviceC.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock({WebhookEventRouting.LockKey})");
        Assert.False(await serviceC.WebhookEndpoints.AnyAsync(e => e.Enabled));

        // The API commits an endpoint and turns the copies on before it answers.
        await AddEndpointAsync();
        await using var api = isolated.CreateDbContext();
        var opening = new WebhookEventRouting(api, isolated.Services).OpenAsync(["task.succeeded"], CancellationToken.None);
        await UntilDoneOrWaitingOnTheLockAsync(opening);

        // ServiceC carries out what it read, then ends its decision.
        await using (var channel = await Broker().CreateChannelAsync())
        {
            foreach (var key in (string[])[RabbitMqTopology.WebhookEventsBindingKey, "task.succeeded"])
            {
                await channel.QueueUnbindAsync(Queues.WebhookTaskEvents, Queues.TaskEvents, key);
            }
        }

        await decision.CommitAsync();
        await opening.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1u, await CopiesOfOneEventAsync());
        Assert.True(await WebhooksListenAsync());
    }

    /// <summary>
    /// ServiceC's own decision paused after its first read (no lock held yet) or after its second (under the lock),
    /// each having found no endpoint, while the API commits one and opens the copies: the endpoint gets them either
    /// way. Without the second read, or without ServiceC's lock, the unbind would land after the API's bind.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task An_unbind_decided_on_a_read_that_missed_a_new_endpoint_never_undoes_its_bind(int pausedAfterRead)
    {
        await StartWithoutEndpointsAsync();
        var paused = new PauseAfterRead(pausedAfterRead);
        await using var serviceC = new AssistenteIa.Infrastructure.Persistence.AppDbContext(
            new DbContextOptionsBuilder<AssistenteIa.Infrastructure.Persistence.AppDbContext>().UseNpgsql(isolated.ConnectionString).AddInterceptors(paused).Options);
        var reconciling = new WebhookEventRouting(serviceC, isolated.Services).ReconcileAsync(null, CancellationToken.None);
        await paused.Reached.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await AddEndpointAsync();
        await using var api = isolated.CreateDbContext();
        var opening = new WebhookEventRouting(api, isolated.Services).OpenAsync(["task.succeeded"], CancellationToken.None);
        await UntilDoneOrWaitingOnTheLockAsync(opening);

        paused.Release.SetResult();
        await reconciling.WaitAsync(TimeSpan.FromSeconds(30));
        await opening.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1u, await CopiesOfOneEventAsync());
        Assert.True(await WebhooksListenAsync());
    }

    /// <summary>Until the API's call has finished, or waits on the advisory lock ServiceC holds.</summary>
    private Task UntilDoneOrWaitingOnTheLockAsync(Task opening) => Eventually.UntilAsync(
        async () => opening.IsCompleted || await Sql.ScalarAsync<long>(
            isolated.ConnectionString,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())") > 0,
        settled => settled,
        TimeSpan.FromSeconds(30),
        "the API's call to finish or to wait on ServiceC's decision");

    private IConnection Broker() => isolated.Services.GetRequiredService<IConnection>();

    /// <summary>ServiceC's reconcile; the types it copies, in order.</summary>
    private async Task<List<string>> ReconcileAsync(string[]? known = null)
    {
        await using var db = isolated.CreateDbContext();
        var copied = await new WebhookEventRouting(db, isolated.Services).ReconcileAsync(known?.ToHashSet(StringComparer.Ordinal), CancellationToken.None);
        return [.. copied.Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// No endpoint and no webhooks listener; the broker's objects declared, the webhook queue empty and bound as an earlier
    /// version left it (every event).
    /// </summary>
    private async Task StartWithoutEndpointsAsync()
    {
        await Sql.ExecuteAsync(isolated.ConnectionString, $"""DELETE FROM "WebhookEndpoints"; DELETE FROM "EventListeners" WHERE "Name" = '{WebhookEventRouting.ListenerName}'""");
        await using var channel = await Broker().CreateChannelAsync();
        await RabbitMqTopology.DeclareAsync(channel, CancellationToken.None);
        await channel.QueueBindAsync(Queues.WebhookTaskEvents, Queues.TaskEvents, RabbitMqTopology.WebhookEventsBindingKey);
        await channel.QueuePurgeAsync(Queues.WebhookTaskEvents);
    }

    [Fact]
    public async Task Declaring_the_topology_binds_the_webhook_queue_to_nothing()
    {
        await StartWithoutEndpointsAsync();
        await AddEndpointAsync("task.succeeded");
        Assert.Equal(["task.succeeded"], await ReconcileAsync());

        // A process opening a channel (a publisher's, a subscription's) declares the topology again: no copy of an
        // event no endpoint takes comes back with it.
        await using (var channel = await Broker().CreateChannelAsync())
        {
            await RabbitMqTopology.DeclareAsync(channel, CancellationToken.None);
        }

        Assert.Equal(0u, await CopiesOfOneEventAsync("task.created"));
        Assert.Equal(1u, await CopiesOfOneEventAsync("task.succeeded"));
    }

    private async Task<Guid> AddEndpointAsync(params string[] eventTypes)
    {
        await using var db = isolated.CreateDbContext();
        if (!await db.Tenants.AnyAsync(t => t.Id == "tenant-a"))
        {
            db.Tenants.Add(Tenant.Create("tenant-a", "Tenant A", DateTimeOffset.UtcNow));
        }

        var endpoint = WebhookEndpoint.Create("tenant-a", new Uri("https://hooks.example.com/a"), eventTypes.Length > 0 ? eventTypes : ["task.succeeded"], null, "protected", DateTimeOffset.UtcNow);
        db.WebhookEndpoints.Add(endpoint);
        await db.SaveChangesAsync();
        return endpoint.Id;
    }

    /// <summary>Publishes one task event of <paramref name="type"/> (confirmed, so routed) and returns how many copies the webhook queue got.</summary>
    private async Task<uint> CopiesOfOneEventAsync(string type = "task.succeeded")
    {
        await using var channel = await Broker().CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var before = (await channel.QueueDeclarePassiveAsync(Queues.WebhookTaskEvents)).MessageCount;
        await channel.BasicPublishAsync(Queues.TaskEvents, type, mandatory: false, new BasicProperties { Persistent = true }, Encoding.UTF8.GetBytes("{}"));
        var after = (await channel.QueueDeclarePassiveAsync(Queues.WebhookTaskEvents)).MessageCount;
        await channel.QueuePurgeAsync(Queues.WebhookTaskEvents);
        return after - before;
    }

    /// <summary>Holds the context after its <c>n</c>th read of the endpoints has returned, until released.</summary>
    private sealed class PauseAfterRead(int n) : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
    {
        private int _reads;

        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask<System.Data.Common.DbDataReader> ReaderExecutedAsync(
            System.Data.Common.DbCommand command, Microsoft.EntityFrameworkCore.Diagnostics.CommandExecutedEventData eventData, System.Data.Common.DbDataReader result, CancellationToken cancellationToken = default)
        {
            if (command.CommandText.Contains("FROM \"WebhookEndpoints\"", StringComparison.Ordinal) && Interlocked.Increment(ref _reads) == n)
            {
                Reached.SetResult();
                await Release.Task;
            }

            return result;
        }
    }
}
