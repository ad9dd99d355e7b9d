using AssistenteIa.Application.Webhooks;
using Microsoft.Extensions.Time.Testing;

namespace AssistenteIa.Tests.Webhooks;

public sealed class WebhookEndpointCacheTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private int _loads;

    [Fact]
    public async Task A_tenants_endpoints_are_read_once_per_duration_and_again_after_it_or_after_an_invalidation()
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

        cache.Invalidate("tenant-a");
        Assert.Equal([endpoint], await cache.GetAsync("tenant-a", _ => LoadAsync(endpoint), CancellationToken.None));
        Assert.Equal(4, _loads);
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
