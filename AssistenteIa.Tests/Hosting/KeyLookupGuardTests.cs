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
    public async Task An_address_that_sent_its_unknown_keys_is_refused_without_a_lookup_and_others_are_not()
    {
        using var guard = Guard(new TenancyOptions { UnknownKeysPerAddress = 3, MaxConcurrentKeyLookups = 0 });

        // Known keys cost an address nothing: only the unknown ones count.
        for (var i = 0; i < 5; i++)
        {
            using var known = await guard.EnterAsync(Client, CancellationToken.None);
            Assert.Null(known.Refusal);
        }

        for (var i = 0; i < 3; i++)
        {
            using var lookup = await guard.EnterAsync(Client, CancellationToken.None);
            Assert.Null(lookup.Refusal);
            lookup.Unknown();
        }

        using var refused = await guard.EnterAsync(Client, CancellationToken.None);
        var refusal = Assert.IsType<LookupRefusal>(refused.Refusal);
        Assert.Equal(StatusCodes.Status429TooManyRequests, refusal.Status);
        Assert.InRange(refusal.RetryAfter, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));

        // The same client by its IPv4-mapped IPv6 address is the same address; another client is not.
        using var mapped = await guard.EnterAsync(Client.MapToIPv6(), CancellationToken.None);
        Assert.NotNull(mapped.Refusal);
        using var other = await guard.EnterAsync(IPAddress.Parse("203.0.113.8"), CancellationToken.None);
        Assert.Null(other.Refusal);
    }

    [Fact]
    public async Task Past_its_lookups_at_once_and_their_waiting_room_an_instance_refuses_at_once()
    {
        using var guard = Guard(new TenancyOptions { UnknownKeysPerAddress = 0, MaxConcurrentKeyLookups = 1 });
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var running = await guard.EnterAsync(Client, deadline.Token);
        Assert.Null(running.Refusal);
        var waiting = Enumerable.Range(0, KeyLookupGuard.LookupQueueFactor).Select(_ => guard.EnterAsync(Client, deadline.Token).AsTask()).ToList();
        Assert.All(waiting, w => Assert.False(w.IsCompleted));

        using var refused = await guard.EnterAsync(Client, deadline.Token);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, Assert.IsType<LookupRefusal>(refused.Refusal).Status);

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
