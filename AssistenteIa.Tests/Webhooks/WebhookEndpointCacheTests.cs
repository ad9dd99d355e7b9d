using AssistenteIa.Application.Webhooks;
using Microsoft.Extensions.Time.Testing;

namespace AssistenteIa.Tests.Webhooks;

public sealed class WebhookEndpointCacheTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private int _loads;

    [Fact]
    public async Task A_tenants_endpoints_are_read_once_per_duration_and_again_after_it_or_when_asked_fresh()
    {
        var cache = new WebhookEndpointCache(_clock);
        var endpoint = new SubscribedEndpoint(Guid.NewGuid(), ["task.created"]);

        Assert.Equal([endpoint], await cache.GetAsync("tenant-a", _ => LoadAsync(endpoint), CancellationToken.None));
        _clock.Advance(WebhookEndpointCache.Duration - TimeSpan.FromMilliseconds(1));
        Assert.Equal([endpoint], await cache.GetAsync("tenant-a", _ => LoadAsync(), CancellationToken.None));
        Assert.Equal(1, _loads);

        // Another tenant has its own entry.
        Assert.Empty(await cache.GetAsync("tenant-b", _ => LoadAsync(), CancellationToken.None));
        Assert.Equal(2, _loads);

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Empty(await cache.GetAsync("tenant-a", _ => LoadAsync(), CancellationToken.None));
        Assert.Equal(3, _loads);

        // A fresh read ignores the entry and replaces it.
        Assert.Equal([endpoint], await cache.GetAsync("tenant-a", _ => LoadAsync(endpoint), CancellationToken.None, fresh: true));
        Assert.Equal(4, _loads);
        Assert.Equal([endpoint], await cache.GetAsync("tenant-a", _ => LoadAsync(), CancellationToken.None));
        Assert.Equal(4, _loads);
    }

    [Fact]
    public async Task An_entry_ages_from_when_its_read_started_not_from_when_it_ended()
    {
        var cache = new WebhookEndpointCache(_clock);
        await cache.GetAsync("tenant-a", _ =>
        {
            // A slow query: the endpoints it returns may be as old as its start.
            _clock.Advance(WebhookEndpointCache.Duration * 0.6);
            return LoadAsync();
        }, CancellationToken.None);

        _clock.Advance(WebhookEndpointCache.Duration * 0.5);
        await cache.GetAsync("tenant-a", _ => LoadAsync(), CancellationToken.None);
        Assert.Equal(2, _loads);
    }

    [Fact]
    public async Task A_read_that_started_earlier_never_replaces_a_newer_entry()
    {
        var cache = new WebhookEndpointCache(_clock);
        var older = new SubscribedEndpoint(Guid.NewGuid(), ["task.created"]);
        var release = new TaskCompletionSource();
        var slow = cache.GetAsync("tenant-a", async _ =>
        {
            await release.Task;
            return await LoadAsync(older);
        }, CancellationToken.None);

        _clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Empty(await cache.GetAsync("tenant-a", _ => LoadAsync(), CancellationToken.None, fresh: true));
        release.SetResult();
        Assert.Equal([older], await slow);

        Assert.Empty(await cache.GetAsync("tenant-a", _ => LoadAsync(older), CancellationToken.None));
        Assert.Equal(2, _loads);
    }

    [Fact]
    public void The_API_waits_longer_than_an_entry_lives()
    {
        Assert.True(WebhookEndpointCache.SettleTime > WebhookEndpointCache.Duration);
    }

    private Task<IReadOnlyList<SubscribedEndpoint>> LoadAsync(params SubscribedEndpoint[] endpoints)
    {
        _loads++;
        return Task.FromResult<IReadOnlyList<SubscribedEndpoint>>(endpoints);
    }
}
