using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.Entities;
using AssistenteIaApi.ServiceC.Worker.Webhooks;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Tests.Integration;

/// <summary>The sender's claim of due webhook deliveries (<see cref="WebhookSender.ClaimAsync"/>), on a database nothing else touches.</summary>
public sealed class WebhookClaimTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    private static readonly WebhookOptions Settings = new() { PerEndpointConcurrency = 2, PerTenantConcurrency = 8 };

    [Fact]
    public async Task Senders_claiming_at_the_same_time_never_take_the_same_delivery_and_together_take_them_all()
    {
        var due = await AddDueDeliveriesAsync(endpoints: 12, perEndpoint: 10);

        // Eight senders, each claiming a few at a time until nothing is left: the candidates each reads overlap, so
        // every round races the others for the same rows.
        var claimedBy = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            var mine = new List<Guid>();
            await using var db = isolated.CreateDbContext();
            for (var empty = 0; empty < 3;)
            {
                var claimed = await WebhookSender.ClaimAsync(db, free: 3, ClaimExclusions.None, Settings, CancellationToken.None);
                mine.AddRange(claimed.Select(d => d.Id));
                empty = claimed.Count == 0 ? empty + 1 : 0;
            }

            return mine;
        })));

        var all = claimedBy.SelectMany(ids => ids).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(due.Select(d => d.Id).Order(), all.Order());
    }

    [Fact]
    public async Task A_claim_takes_at_most_the_endpoints_share_skips_busy_endpoints_and_leaves_claimed_rows_alone()
    {
        var due = await AddDueDeliveriesAsync(endpoints: 3, perEndpoint: 5);
        var endpoints = due.Select(d => d.EndpointId).Distinct().Order().ToArray();
        await using var db = isolated.CreateDbContext();

        var first = await WebhookSender.ClaimAsync(db, free: 32, new ClaimExclusions([endpoints[0]], [], [], []), Settings, CancellationToken.None);
        Assert.Equal(4, first.Count);
        Assert.DoesNotContain(first, d => d.EndpointId == endpoints[0]);
        Assert.All(first.GroupBy(d => d.EndpointId), g => Assert.Equal(2, g.Count()));
        Assert.All(first, d => Assert.True(d.ClaimedUntil > DateTimeOffset.UtcNow));

        // What is claimed is not taken again until its claim expires: the next claim takes each endpoint's next two.
        var second = await WebhookSender.ClaimAsync(db, free: 32, ClaimExclusions.None, Settings, CancellationToken.None);
        Assert.Equal(6, second.Count);
        Assert.Empty(first.Select(d => d.Id).Intersect(second.Select(d => d.Id)));
    }

    private async Task<List<(Guid Id, Guid EndpointId)>> AddDueDeliveriesAsync(int endpoints, int perEndpoint)
    {
        await Sql.ExecuteAsync(isolated.ConnectionString, """DELETE FROM "WebhookDeliveries"; DELETE FROM "WebhookEndpoints" """);
        await using var db = isolated.CreateDbContext();
        if (!await db.Tenants.AnyAsync(t => t.Id == "tenant-claims"))
        {
            db.Tenants.Add(Tenant.Create("tenant-claims", "Tenant claims", DateTimeOffset.UtcNow));
        }

        var due = new List<(Guid, Guid)>();
        var now = DateTimeOffset.UtcNow.AddMinutes(-1); // due by the database's clock, whatever this one's skew
        for (var e = 0; e < endpoints; e++)
        {
            var endpoint = WebhookEndpoint.Create("tenant-claims", new Uri($"https://hooks.example.com/{e}"), ["task.succeeded"], null, "protected", now);
            db.WebhookEndpoints.Add(endpoint);
            for (var i = 0; i < perEndpoint; i++)
            {
                var delivery = WebhookDelivery.Create(endpoint.Id, "tenant-claims", Guid.CreateVersion7(), "task.succeeded", "{}", now.AddMilliseconds(i));
                db.WebhookDeliveries.Add(delivery);
                due.Add((delivery.Id, endpoint.Id));
            }
        }

        await db.SaveChangesAsync();
        return due;
    }
}
