using System.Net;
using AssistenteIa.Application.Tenants;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Hosting;

/// <summary>The two limits on looking up keys the cache does not hold: per client address, and at once per instance.</summary>
public sealed class KeyLookupGuardTests
{
    private static readonly IPAddress Client = IPAddress.Parse("203.0.113.7");

    [Fact]
    public async Task An_address_whose_lookups_found_its_quota_of_unknown_keys_is_refused_and_others_are_not()
    {
        using var guard = Guard(new TenancyOptions { UnknownKeysPerAddress = 3, MaxConcurrentKeyLookups = 0 });

        // Keys found valid cost the address nothing; unknown ones, and lookups that ended without an answer, count.
        for (var i = 0; i < 5; i++)
        {
            using var valid = await guard.EnterAsync(Client, validLately: false, CancellationToken.None);
            Assert.Null(valid.Refusal);
            valid.Valid();
        }

        for (var i = 0; i < 3; i++)
        {
            using var lookup = await guard.EnterAsync(Client, validLately: false, CancellationToken.None);
            Assert.Null(lookup.Refusal);
        }

        using var refused = await guard.EnterAsync(Client, validLately: false, CancellationToken.None);
        var refusal = Assert.IsType<LookupRefusal>(refused.Refusal);
        Assert.Equal(StatusCodes.Status429TooManyRequests, refusal.Status);
        Assert.InRange(refusal.RetryAfter, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));

        // A key found valid lately is looked up all the same: whoever shares the address keeps working.
        using var validLately = await guard.EnterAsync(Client, validLately: true, CancellationToken.None);
        Assert.Null(validLately.Refusal);

        // The same client by its IPv4-mapped IPv6 address is the same address; another client is not.
        using var mapped = await guard.EnterAsync(Client.MapToIPv6(), validLately: false, CancellationToken.None);
        Assert.NotNull(mapped.Refusal);
        using var other = await guard.EnterAsync(IPAddress.Parse("203.0.113.8"), validLately: false, CancellationToken.None);
        Assert.Null(other.Refusal);
    }

    [Fact]
    public async Task A_stopping_instance_refuses_a_lookup_instead_of_failing_the_request()
    {
        var guard = Guard(new TenancyOptions());
        guard.Dispose();

        using var lookup = await guard.EnterAsync(Client, validLately: false, CancellationToken.None);

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, Assert.IsType<LookupRefusal>(lookup.Refusal).Status);
    }

    [Fact]
    public async Task Past_its_lookups_at_once_and_their_waiting_room_an_instance_refuses_at_once()
    {
        using var guard = Guard(new TenancyOptions { UnknownKeysPerAddress = 0, MaxConcurrentKeyLookups = 1 });
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var running = await guard.EnterAsync(Client, validLately: false, deadline.Token);
        Assert.Null(running.Refusal);
        var waiting = Enumerable.Range(0, KeyLookupGuard.LookupQueueFactor).Select(_ => guard.EnterAsync(Client, validLately: false, deadline.Token).AsTask()).ToList();
        Assert.All(waiting, w => Assert.False(w.IsCompleted));

        using var refused = await guard.EnterAsync(Client, validLately: false, deadline.Token);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, Assert.IsType<LookupRefusal>(refused.Refusal).Status);

        // A key found valid lately does not wait for a place.
        using var validLately = await guard.EnterAsync(Client, validLately: true, deadline.Token);
        Assert.Null(validLately.Refusal);

        // The place given back goes to the oldest waiting lookup.
        running.Dispose();
        using var next = await waiting[0].WaitAsync(deadline.Token);
        Assert.Null(next.Refusal);
        Assert.All(waiting.Skip(1), w => Assert.False(w.IsCompleted));
        deadline.Cancel();
        foreach (var w in waiting.Skip(1))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => w);
        }
    }

    [Fact]
    public async Task Requests_missing_the_cache_together_share_one_query_of_their_key()
    {
        using var cache = new ApiKeyCache(TimeProvider.System, Options.Create(new TenancyOptions()));
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var queries = 0;
        var answer = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<string?> Query()
        {
            Interlocked.Increment(ref queries);
            return answer.Task;
        }

        var first = cache.LookUpOnceAsync("hash", Query, deadline.Token);
        var second = cache.LookUpOnceAsync("hash", Query, deadline.Token);
        var other = cache.LookUpOnceAsync("other", () => Task.FromResult<string?>(null), deadline.Token);
        answer.SetResult("tenant-a");

        Assert.Equal("tenant-a", await first);
        Assert.Equal("tenant-a", await second);
        Assert.Null(await other);
        Assert.Equal(1, queries);

        // Once answered, the next miss asks again.
        Assert.Equal("tenant-b", await cache.LookUpOnceAsync("hash", () => Task.FromResult<string?>("tenant-b"), deadline.Token));
    }

    [Theory]
    [InlineData("198.51.100.20", "198.51.100.20")]
    [InlineData("::ffff:198.51.100.20", "198.51.100.20")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "20010db800010002/64")]
    [InlineData("2001:db8:1:2::1", "20010db800010002/64")]
    [InlineData("2001:db8:1:3::1", "20010db800010003/64")]
    public void A_client_counts_by_its_IPv4_address_or_its_IPv6_64(string address, string partition) =>
        Assert.Equal(partition, KeyLookupGuard.PartitionOf(IPAddress.Parse(address)));

    private static KeyLookupGuard Guard(TenancyOptions options)
    {
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        return new KeyLookupGuard(Options.Create(options), services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
    }
}
