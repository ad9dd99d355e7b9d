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
/// tenant. Two limits, both decided before the query, for keys not found valid within a day
/// (<see cref="ApiKeyCache.WasValidLately"/>; those are looked up freely, so a tenant keeps working whoever shares its
/// address):
/// <list type="bullet">
/// <item>a client address whose lookups found <see cref="TenancyOptions.UnknownKeysPerAddress"/> keys unknown or revoked
/// within a minute has such keys refused unchecked (429) for up to a minute: a client retrying with a revoked key stops
/// costing queries, and so does one guessing keys; its valid keys cost it nothing;</item>
/// <item>at most <see cref="TenancyOptions.MaxConcurrentKeyLookups"/> of them are looked up at once on the instance and
/// <see cref="LookupQueueFactor"/> times as many wait; the next is refused at once (503): a flood from many addresses
/// holds a few of the connections, not all of them.</item>
/// </list>
/// An IPv6 client counts by its /64 (one machine gets a whole /64 and may pick any address in it).
/// </summary>
public sealed class KeyLookupGuard : IDisposable
{
    public const int LookupQueueFactor = 8;

    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private static readonly LookupRefusal Stopping = new(
        StatusCodes.Status503ServiceUnavailable, "Service unavailable", "This instance is stopping; nothing was done. Retry in a moment.", TimeSpan.FromSeconds(1));

    private readonly ConcurrencyLimiter? _lookups;
    private readonly PartitionedRateLimiter<string>? _addresses;
    private readonly Counter<long> _refused;
    private volatile bool _disposed;

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
            "API keys not looked up: their address looked up too many keys not known to be valid (429), or the instance had too many such lookups running (503).");
    }

    /// <summary>
    /// Takes a lookup's place for a key of <paramref name="client"/>'s: at once for a key found valid lately, else
    /// within the two limits. The lookup may run when <see cref="Lookup.Refusal"/> is null; dispose of it once the
    /// database has answered.
    /// </summary>
    public async ValueTask<Lookup> EnterAsync(IPAddress? client, bool validLately, CancellationToken cancellationToken)
    {
        if (validLately)
        {
            return new Lookup(null, "", null, null);
        }

        var address = PartitionOf(client);
        try
        {
            if (_addresses is not null)
            {
                // Zero permits: asks whether the address has any left, taking none. A key found unknown takes one when
                // its lookup ends (whether it ended with an answer or not): a valid key costs its address nothing.
                using var probe = _addresses.AttemptAcquire(address, 0);
                if (!probe.IsAcquired)
                {
                    return Refuse(new LookupRefusal(
                        StatusCodes.Status429TooManyRequests, "Too many requests",
                        "This address sent too many API keys that are not valid; its keys not checked lately are not checked for up to a minute (Retry-After).",
                        probe.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : Window));
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
                return Refuse(_disposed ? Stopping : new LookupRefusal(
                    StatusCodes.Status503ServiceUnavailable, "Service unavailable",
                    "This instance is checking too many API keys at once; nothing was done. Retry in a moment.",
                    TimeSpan.FromSeconds(1)));
            }

            return new Lookup(this, address, place, null);
        }
        catch (ObjectDisposedException) when (_disposed)
        {
            // The host is stopping and has let go of the limiters: the key is not checked, the request not run.
            return Refuse(Stopping);
        }
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
        _disposed = true;
        _lookups?.Dispose();
        _addresses?.Dispose();
    }

    private Lookup Refuse(LookupRefusal refusal)
    {
        _refused.Add(1, new KeyValuePair<string, object?>("http.response.status_code", refusal.Status));
        return new Lookup(null, "", null, refusal);
    }

    private void CountUnknown(string address)
    {
        try
        {
            // The window's count; past the limit the lease fails and nothing more is taken.
            using var _ = _addresses?.AttemptAcquire(address, 1);
        }
        catch (ObjectDisposedException) when (_disposed)
        {
        }
    }

    /// <summary>
    /// One lookup's place (or why there is none). Disposed without <see cref="Valid"/>, it counts against its address:
    /// the key was unknown or revoked, or the lookup did not end with an answer (an abort, a failure).
    /// </summary>
    public sealed class Lookup(KeyLookupGuard? guard, string address, RateLimitLease? place, LookupRefusal? refusal) : IDisposable
    {
        private bool _valid;
        private bool _disposed;

        public LookupRefusal? Refusal { get; } = refusal;

        /// <summary>The key was found valid: it costs its address nothing.</summary>
        public void Valid() => _valid = true;

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            place?.Dispose();
            if (!_valid)
            {
                guard?.CountUnknown(address);
            }
        }
    }
}

/// <summary>Why a key was not looked up: the status, title and detail of the answer, and when to try again.</summary>
public sealed record LookupRefusal(int Status, string Title, string Detail, TimeSpan RetryAfter);
