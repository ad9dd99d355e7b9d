using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;

namespace AssistenteIa.Tests.Integration;

/// <summary>ServiceC's fan-out of a task event into webhook deliveries (<see cref="FanOutTaskEventHandler"/>), on a database nothing else touches.</summary>
public sealed class WebhookFanOutTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    private const string TenantId = "tenant-fan-out";

    // A clock that stands still: the endpoints the cache read are never read again unless the fan-out asks for it.
    private readonly WebhookEndpointCache _cache = new(new FakeTimeProvider(DateTimeOffset.UtcNow));

    [Fact]
    public async Task An_event_handled_again_or_twice_at_once_stores_one_delivery_per_subscribed_endpoint()
    {
        var (succeeded, alsoSucceeded, _) = await AddEndpointsAsync();
        var taskEvent = EventOf("task.succeeded");

        Assert.Equal(new[] { succeeded, alsoSucceeded }.Order(), (await HandleAsync(taskEvent)).Order());
        Assert.Empty(await HandleAsync(taskEvent));

        // Four handlers of one new event at once: between them, each endpoint is given its delivery once.
        var again = EventOf("task.succeeded");
        var added = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => HandleAsync(again))));
        Assert.Equal(new[] { succeeded, alsoSucceeded }.Order(), added.SelectMany(ids => ids).Order());

        await using var db = isolated.CreateDbContext();
        var stored = await db.WebhookDeliveries.AsNoTracking().Where(d => d.TenantId == TenantId).ToListAsync();
        Assert.Equal(4, stored.Count);
        Assert.All(stored, d => Assert.Equal(WebhookDeliveryStatus.Pending, d.Status));
        Assert.All(stored, d => Assert.Equal(FanOutTaskEventHandler.Body(d.EventId == taskEvent.EventId ? taskEvent : again), d.PayloadJson));
    }

    [Fact]
    public async Task An_endpoint_deleted_after_the_endpoints_were_read_does_not_keep_the_others_from_their_delivery()
    {
        var (succeeded, alsoSucceeded, _) = await AddEndpointsAsync();
        Assert.Equal(2, (await HandleAsync(EventOf("task.succeeded"))).Count);

        // The cache still names the deleted endpoint: its delivery is refused, and the endpoints are read again.
        await Sql.ExecuteAsync(isolated.ConnectionString, $"""DELETE FROM "WebhookEndpoints" WHERE "Id" = '{alsoSucceeded}'""");
        Assert.Equal([succeeded], await HandleAsync(EventOf("task.succeeded")));
    }

    private async Task<IReadOnlyList<Guid>> HandleAsync(ReceivedTaskEvent taskEvent)
    {
        await using var db = isolated.CreateDbContext();
        return await new FanOutTaskEventHandler(db, _cache, TimeProvider.System).HandleAsync(taskEvent, CancellationToken.None);
    }

    private static ReceivedTaskEvent EventOf(string type) =>
        new(Guid.CreateVersion7(), TenantId, Guid.CreateVersion7(), type, DateTimeOffset.UtcNow, """{"task":{"status":"Succeeded"}}""");

    /// <summary>Two endpoints taking <c>task.succeeded</c> and one taking <c>task.created</c> only.</summary>
    private async Task<(Guid Succeeded, Guid AlsoSucceeded, Guid Created)> AddEndpointsAsync()
    {
        await Sql.ExecuteAsync(isolated.ConnectionString, $"""DELETE FROM "WebhookEndpoints" WHERE "TenantId" = '{TenantId}'""");
        await using var db = isolated.CreateDbContext();
        if (!await db.Tenants.AnyAsync(t => t.Id == TenantId))
        {
            db.Tenants.Add(Tenant.Create(TenantId, "Tenant fan-out", DateTimeOffset.UtcNow));
        }

        var now = DateTimeOffset.UtcNow;
        var endpoints = new[] { "task.succeeded", "task.succeeded", "task.created" }
            .Select((type, i) => WebhookEndpoint.Create(TenantId, new Uri($"https://hooks.example.com/{i}"), [type], null, "protected", now))
            .ToArray();
        db.WebhookEndpoints.AddRange(endpoints);
        await db.SaveChangesAsync();
        return (endpoints[0].Id, endpoints[1].Id, endpoints[2].Id);
    }
}
