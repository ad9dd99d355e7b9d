using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using AssistenteIa.Application.Tenants;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.Security;

/// <summary>
/// Keeps API keys that are not in <see cref="ApiKeyCache"/> from costing the database without bound. Authentication
/// runs before every other limit (the tenant's rate, <see cref="LoadShedding"/>): without this guard each request with
/// an unknown key was a query, however many came, so a flood of made-up keys took the API's connections from every
/// tenant. Two limits, both decided before the query:
/// <list type="bullet">
/// <item>a client address that sent <see cref="TenancyOptions.UnknownKeysPerAddress"/> unknown or revoked keys within a
/// minute has no key of its looked up until the minute ends (429): a client retrying with a revoked key stops costing
/// queries, and so does one guessing keys. Keys already in the cache still pass;</item>
/// <item>at most <see cref="TenancyOptions.MaxConcurrentKeyLookups"/> lookups run at once on the instance and
/// <see cref="LookupQueueFactor"/> times as many wait; the next is refused at once (503): a flood from many addresses
/// holds a few of the connections, not all of them.</item>
/// </list>
/// An IPv6 client counts by its /64 (one machine gets a whole /64 and may pick any address in it).
/// </summary>
public sealed class KeyLookupGuard : IDisposable
{
    public const int LookupQueueFactor = 8;

    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly ConcurrencyLimiter? _lookups;
    private readonly PartitionedRateLimiter<string>? _addresses;
    private readonly Counter<long> _refused;

    public KeyLookupGuard(IOptions<TenancyOptions> options, IMeterFactory meterFactory)
    {
        var settings = options.Value;
        if (settings.MaxConcurrentKeyLookups > 0)
        {
            _lookups = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
            {
                PermitLimit = settings.MaxConcurrentKeyLookups,
                QueueLimit = settings.MaxConcurrentKeyLookups * LookupQueueFactor,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            });
        }

        if (settings.UnknownKeysPerAddress > 0)
        {
            _addresses = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetFixedWindowLimiter(address, _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = settings.UnknownKeysPerAddress,
                Window = Window,
                QueueLimit = 0,
            }));
        }

        _refused = meterFactory.Create(LoadShedding.Admission.MeterName).CreateCounter<long>(
            "assistenteia.api.key_lookups.refused", "{request}",
            "Requests whose API key was not looked up: their address sent too many unknown keys (429) or the instance had too many lookups running (503).");
    }

    /// <summary>
    /// Waits for a lookup's place. The lookup may run when <see cref="Lookup.Refusal"/> is null; report an unknown key
    /// with <see cref="Lookup.Unknown"/>, and dispose of the lookup once the database has answered.
    /// </summary>
    public async ValueTask<Lookup> EnterAsync(IPAddress? client, CancellationToken cancellationToken)
    {
        var address = PartitionOf(client);
        if (_addresses is not null)
        {
            // Zero permits: asks whether the address has any left, taking none.
            using var probe = _addresses.AttemptAcquire(address, 0);
            if (!probe.IsAcquired)
            {
                var wait = probe.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : Window;
                return Refuse(address, new LookupRefusal(
                    StatusCodes.Status429TooManyRequests, "Too many requests",
                    "This address sent too many unknown or revoked API keys; its keys are not checked until the wait in Retry-After is over.",
                    wait));
            }
        }

        if (_lookups is null)
        {
            return new Lookup(this, address, null, null);
        }

        var place = await _lookups.AcquireAsync(1, cancellationToken);
        if (!place.IsAcquired)
        {
            place.Dispose();
            return Refuse(address, new LookupRefusal(
                StatusCodes.Status503ServiceUnavailable, "Service unavailable",
                "This instance is checking too many API keys at once; nothing was done. Retry in a moment.",
                TimeSpan.FromSeconds(1)));
        }

        return new Lookup(this, address, place, null);
    }

    /// <summary>
    /// The address a client counts by: an IPv4 address (also when written as IPv6), or an IPv6 address's first 64 bits;
    /// "" when the connection has none (an in-process server).
    /// </summary>
    public static string PartitionOf(IPAddress? client)
    {
        if (client is null)
        {
            return "";
        }

        if (client.IsIPv4MappedToIPv6)
        {
            client = client.MapToIPv4();
        }

        if (client.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return client.ToString();
        }

        var bytes = client.GetAddressBytes();
        return string.Create(CultureInfo.InvariantCulture, $"{Convert.ToHexString(bytes, 0, 8).ToLowerInvariant()}/64");
    }

    public void Dispose()
    {
        _lookups?.Dispose();
        _addresses?.Dispose();
    }

    private Lookup Refuse(string address, LookupRefusal refusal)
    {
        _refused.Add(1, new KeyValuePair<string, object?>("http.response.status_code", refusal.Status));
        return new Lookup(this, address, null, refusal);
    }

    private void CountUnknown(string address)
    {
        // The window's count; past the limit the lease fails and nothing more is taken.
        using var _ = _addresses?.AttemptAcquire(address, 1);
    }

    /// <summary>One lookup's place (or why there is none).</summary>
    public sealed class Lookup(KeyLookupGuard guard, string address, RateLimitLease? place, LookupRefusal? refusal) : IDisposable
    {
        public LookupRefusal? Refusal { get; } = refusal;

        /// <summary>The key looked up was unknown or revoked: it counts against the address.</summary>
        public void Unknown() => guard.CountUnknown(address);

        public void Dispose() => place?.Dispose();
    }
}

/// <summary>Why a key was not looked up: the status, title and detail of the answer, and when to try again.</summary>
public sealed record LookupRefusal(int Status, string Title, string Detail, TimeSpan RetryAfter);
