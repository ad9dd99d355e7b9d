using AssistenteIa.Application.Webhooks;
using AssistenteIaApi.ServiceC.Worker.Webhooks;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AssistenteIa.Tests.Webhooks;

/// <summary>When the webhook sender is worth waking: only when a claim could take what is new or what was left.</summary>
public sealed class WebhookSendLoadTests
{
    private static readonly Guid EndpointA = Guid.NewGuid();
    private static readonly Guid EndpointB = Guid.NewGuid();

    private readonly FakeTimeProvider _clock = new();
    private readonly WebhookSendLoad _load;

    public WebhookSendLoadTests()
    {
        _load = new(Options.Create(new WebhookOptions { MaxConcurrency = 4, PerEndpointConcurrency = 2, PerTenantConcurrency = 3, PollInterval = TimeSpan.FromSeconds(1) }), _clock);
    }

    [Fact]
    public void A_new_delivery_for_an_endpoint_with_a_send_in_flight_waits_for_its_last_send_to_end()
    {
        Assert.True(_load.CouldClaim("tenant-a", [EndpointA]));

        // The endpoint took its share while the sender had room for more: its backlog is not claimed past at once (not
        // within a poll interval of the sender's start or of the last time: below).
        Assert.False(Claim((EndpointA, "tenant-a"), (EndpointA, "tenant-a")));

        Assert.False(_load.CouldClaim("tenant-a", [EndpointA]));
        Assert.True(_load.CouldClaim("tenant-a", [EndpointA, EndpointB]), "another endpoint of the tenant has nothing in flight");
        Assert.Equal([EndpointA], _load.Exclusions().BusyEndpoints);

        // The claim leaves the endpoint out while either send is in flight: only the last one's end frees it.
        Assert.False(_load.Release(EndpointA, "tenant-a"));
        Assert.False(_load.CouldClaim("tenant-a", [EndpointA]));
        Assert.True(_load.Release(EndpointA, "tenant-a"));
        Assert.True(_load.CouldClaim("tenant-a", [EndpointA]));
        Assert.Equal(4, _load.Free);
        Assert.Empty(_load.Exclusions().BusyEndpoints);
    }

    [Fact]
    public void A_tenant_that_reaches_its_share_is_claimed_past_at_once_and_for_again_once_one_of_its_sends_ends()
    {
        Assert.False(Claim((EndpointA, "tenant-a")));

        // With the one it holds, this claim brings the tenant to its share (3) while the sender has room: its backlog
        // may have filled the candidates, so the next claim, which leaves it out, runs at once.
        Assert.True(Claim((EndpointA, "tenant-a"), (EndpointB, "tenant-a")));

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
        Assert.False(Claim((EndpointA, "tenant-a"), (EndpointA, "tenant-a"), (EndpointB, "tenant-b"), (EndpointB, "tenant-b")));
        Assert.Equal(0, _load.Free);
        Assert.False(_load.CouldClaim("tenant-c", [Guid.NewGuid()]));

        // Neither endpoint nor tenant is freed by this one send; the sender's slot is.
        Assert.True(_load.Release(EndpointA, "tenant-a"));
        Assert.Equal(1, _load.Free);
        Assert.True(_load.CouldClaim("tenant-c", [Guid.NewGuid()]));
        Assert.False(_load.Release(EndpointB, "tenant-b"));
    }

    [Fact]
    public void A_claim_that_took_all_it_was_sized_for_while_a_send_ended_is_followed_by_another()
    {
        Assert.False(Claim((EndpointA, "tenant-a"), (EndpointA, "tenant-a")));
        var free = _load.Free;
        var before = _load.Exclusions();

        // A send ends while the claim of the two free places runs: its end wakes nobody (it frees neither its endpoint
        // nor its tenant, and the sender was not full).
        Assert.False(_load.Release(EndpointA, "tenant-a"));
        Assert.True(_load.Take(free, before, [(Guid.NewGuid(), "tenant-c"), (Guid.NewGuid(), "tenant-d")]));
        Assert.Equal(1, _load.Free);
    }

    [Fact]
    public void An_endpoint_that_reaches_its_share_is_claimed_past_at_once_at_most_once_a_poll_interval()
    {
        Assert.False(Claim((EndpointA, "tenant-a"), (EndpointA, "tenant-a")));
        ReleaseAll((EndpointA, "tenant-a"), (EndpointA, "tenant-a"));

        // A poll interval on, the next claim in which an endpoint took its share is followed at once by one that leaves
        // it out: what lies past that endpoint's backlog waits about a poll interval at most.
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(Claim((EndpointA, "tenant-a"), (EndpointA, "tenant-a")));
        ReleaseAll((EndpointA, "tenant-a"), (EndpointA, "tenant-a"));

        // Not again within the interval, for that endpoint or another: each such claim walks a backlog.
        Assert.False(Claim((EndpointB, "tenant-b"), (EndpointB, "tenant-b")));
        ReleaseAll((EndpointB, "tenant-b"), (EndpointB, "tenant-b"));
        _clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(Claim((EndpointB, "tenant-b"), (EndpointB, "tenant-b")));
        ReleaseAll((EndpointB, "tenant-b"), (EndpointB, "tenant-b"));

        // One send short of the endpoint's share is no reason: the endpoint's backlog did not fill the candidates.
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(Claim((EndpointA, "tenant-a"), (EndpointB, "tenant-b")));
        ReleaseAll((EndpointA, "tenant-a"), (EndpointB, "tenant-b"));
        Assert.True(Claim((EndpointB, "tenant-b"), (EndpointB, "tenant-b")));
    }

    private void ReleaseAll(params (Guid EndpointId, string TenantId)[] sends)
    {
        foreach (var (endpointId, tenantId) in sends)
        {
            _load.Release(endpointId, tenantId);
        }

        Assert.Equal(4, _load.Free);
    }

    /// <summary>A claim run with what the load is now, which took these.</summary>
    private bool Claim(params (Guid EndpointId, string TenantId)[] claimed) => _load.Take(_load.Free, _load.Exclusions(), claimed);
}

/// <summary>What a wake-up of the webhook sender says it is for.</summary>
public sealed class WebhookSignalTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task A_wake_up_for_new_deliveries_names_them_and_only_a_poll_or_a_plain_wake_up_says_always()
    {
        using var signal = new WebhookSignal();
        var endpoint = Guid.NewGuid();
        signal.WakeFor("tenant-a", [endpoint]);
        signal.WakeFor("tenant-b", [endpoint]);

        var woken = await signal.WaitAsync(Long, CancellationToken.None);
        Assert.False(woken.Always);
        Assert.Equal(["tenant-a", "tenant-b"], woken.NewDeliveries.Select(d => d.TenantId));
        Assert.Equal([endpoint], woken.NewDeliveries[0].EndpointIds);

        signal.WakeFor("tenant-a", [endpoint]);
        signal.Wake();
        Assert.True((await signal.WaitAsync(Long, CancellationToken.None)).Always);

        // Nothing since: the poll's time passes, and a claim runs.
        var poll = await signal.WaitAsync(TimeSpan.FromMilliseconds(10), CancellationToken.None);
        Assert.True(poll.Always);
        Assert.Empty(poll.NewDeliveries);
    }

    [Fact]
    public async Task Past_what_it_remembers_a_wake_up_says_always()
    {
        using var signal = new WebhookSignal();
        for (var i = 0; i <= WebhookSignal.MaxRemembered; i++)
        {
            signal.WakeFor("tenant-a", [Guid.NewGuid()]);
        }

        var woken = await signal.WaitAsync(Long, CancellationToken.None);
        Assert.True(woken.Always);
        Assert.Equal(WebhookSignal.MaxRemembered, woken.NewDeliveries.Count);
    }
}
