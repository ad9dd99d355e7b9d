using AssistenteIa.Application.Webhooks;
using AssistenteIaApi.ServiceC.Worker.Webhooks;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Webhooks;

/// <summary>When the webhook sender is worth waking: only when a claim could take what is new or what was left.</summary>
public sealed class WebhookSendLoadTests
{
    private static readonly Guid EndpointA = Guid.NewGuid();
    private static readonly Guid EndpointB = Guid.NewGuid();

    private readonly WebhookSendLoad _load = new(Options.Create(new WebhookOptions { MaxConcurrency = 4, PerEndpointConcurrency = 2, PerTenantConcurrency = 3 }));

    [Fact]
    public void A_new_delivery_for_an_endpoint_with_a_send_in_flight_waits_for_its_last_send_to_end()
    {
        Assert.True(_load.CouldClaim("tenant-a", [EndpointA]));
        Assert.False(_load.Take(EndpointA, "tenant-a"));
        Assert.True(_load.Take(EndpointA, "tenant-a"), "the endpoint now holds its share");

        Assert.False(_load.CouldClaim("tenant-a", [EndpointA]));
        Assert.True(_load.CouldClaim("tenant-a", [EndpointA, EndpointB]), "another endpoint of the tenant has nothing in flight");

        // The claim leaves the endpoint out while either send is in flight: only the last one's end frees it.
        Assert.False(_load.Release(EndpointA, "tenant-a"));
        Assert.False(_load.CouldClaim("tenant-a", [EndpointA]));
        Assert.True(_load.Release(EndpointA, "tenant-a"));
        Assert.True(_load.CouldClaim("tenant-a", [EndpointA]));
        Assert.Equal(4, _load.Free);
    }

    [Fact]
    public void A_tenant_at_its_share_is_claimed_for_again_once_one_of_its_sends_ends()
    {
        Assert.False(_load.Take(EndpointA, "tenant-a"));
        Assert.True(_load.Take(EndpointA, "tenant-a"), "the endpoint now holds its share");
        Assert.True(_load.Take(EndpointB, "tenant-a"), "the tenant now holds its share");

        Assert.False(_load.CouldClaim("tenant-a", [Guid.NewGuid()]));
        Assert.True(_load.CouldClaim("tenant-b", [Guid.NewGuid()]));
        var exclusions = _load.Exclusions();
        Assert.Equal(new[] { EndpointA, EndpointB }.Order(), exclusions.BusyEndpoints.Order());
        Assert.Equal(["tenant-a"], exclusions.FullTenants);
        Assert.Equal(["tenant-a"], exclusions.HeldTenants);
        Assert.Equal([3], exclusions.HeldCounts);

        // The endpoint still has a send in flight; the tenant is below its share again, so its other endpoints may go.
        Assert.True(_load.Release(EndpointA, "tenant-a"));
        Assert.True(_load.CouldClaim("tenant-a", [Guid.NewGuid()]));
        Assert.False(_load.CouldClaim("tenant-a", [EndpointA]));
        Assert.Empty(_load.Exclusions().FullTenants);
    }

    [Fact]
    public void A_sender_with_every_slot_taken_is_woken_by_the_first_send_that_ends()
    {
        _load.Take(EndpointA, "tenant-a");
        _load.Take(EndpointA, "tenant-a");
        _load.Take(EndpointB, "tenant-b");
        _load.Take(EndpointB, "tenant-b");
        Assert.Equal(0, _load.Free);
        Assert.False(_load.CouldClaim("tenant-c", [Guid.NewGuid()]));

        // Neither endpoint nor tenant is freed by this one send; the sender's slot is.
        Assert.True(_load.Release(EndpointA, "tenant-a"));
        Assert.Equal(1, _load.Free);
        Assert.True(_load.CouldClaim("tenant-c", [Guid.NewGuid()]));
        Assert.False(_load.Release(EndpointB, "tenant-b"));
    }
}
