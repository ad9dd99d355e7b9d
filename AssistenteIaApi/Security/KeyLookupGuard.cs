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
/// <item>a client address looks up at most <see cref="TenancyOptions.UnknownKeysPerAddress"/> such keys a minute; past
/// them they are refused unchecked (429) for up to a minute: a client retrying with a revoked key stops costing
/// queries, and so does one guessing keys;</item>
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
            return new Lookup(null, null);
        }

        try
        {
            if (_addresses is not null)
            {
                // Taken before the lookup, whatever it finds: a new key's first use costs its address one of its
                // lookups, and lookups still running count too.
                using var permit = _addresses.AttemptAcquire(PartitionOf(client));
                if (!permit.IsAcquired)
                {
                    return Refuse(new LookupRefusal(
                        StatusCodes.Status429TooManyRequests, "Too many requests",
                        "This address sent too many API keys that are not valid; its keys not checked lately are not checked for up to a minute (Retry-After).",
                        permit.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : Window));
                }
            }

            if (_lookups is null)
            {
                return new Lookup(null, null);
            }

            var place = await _lookups.AcquireAsync(1, cancellationToken);
            if (!place.IsAcquired)
            {
                place.Dispose();
                return Refuse(new LookupRefusal(
                    StatusCodes.Status503ServiceUnavailable, "Service unavailable",
                    "This instance is checking too many API keys at once; nothing was done. Retry in a moment.",
                    TimeSpan.FromSeconds(1)));
            }

            return new Lookup(place, null);
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
        return new Lookup(null, refusal);
    }

    /// <summary>One lookup's place (or why there is none).</summary>
    public sealed class Lookup(RateLimitLease? place, LookupRefusal? refusal) : IDisposable
    {
        public LookupRefusal? Refusal { get; } = refusal;

        public void Dispose() => place?.Dispose();
    }
}

/// <summary>Why a key was not looked up: the status, title and detail of the answer, and when to try again.</summary>
public sealed record LookupRefusal(int Status, string Title, string Detail, TimeSpan RetryAfter);
