using AssistenteIa.Application.Webhooks;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceC.Worker.Webhooks;

/// <summary>
/// The sends this process has in flight, by endpoint and by tenant, and whether a change to them makes a claim worth
/// running. A claim leaves out every endpoint with a send in flight and every tenant at its share
/// (<see cref="WebhookSender.ClaimAsync"/>), so a new delivery for one of those cannot be claimed now: the send holding
/// it wakes the sender when it ends. Waking for it anyway ran a claim that walked the held endpoint's backlog and took
/// nothing (with one endpoint in the benchmark, about 8,000 of 17,280 claims, the largest cost of a webhook run).
/// </summary>
public sealed class WebhookSendLoad(IOptions<WebhookOptions> options, TimeProvider clock)
{
    private readonly WebhookOptions _settings = options.Value;
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, int> _endpoints = [];
    private readonly Dictionary<string, int> _tenants = new(StringComparer.Ordinal);
    private int _total;
    private long _lastPastEndpoint = clock.GetTimestamp();

    /// <summary>How many more deliveries this sender may send at once.</summary>
    public int Free
    {
        get
        {
            lock (_gate)
            {
                return _settings.MaxConcurrency - _total;
            }
        }
    }

    /// <summary>What a claim run now leaves out.</summary>
    public ClaimExclusions Exclusions()
    {
        lock (_gate)
        {
            return new ClaimExclusions(
                [.. _endpoints.Keys],
                [.. _tenants.Where(t => t.Value >= _settings.PerTenantConcurrency).Select(t => t.Key)],
                [.. _tenants.Keys],
                [.. _tenants.Values]);
        }
    }

    /// <summary>
    /// The sends of what a claim took begin. <paramref name="free"/> and <paramref name="before"/> are what the claim
    /// was run with.
    /// </summary>
    /// <returns>
    /// Whether to claim again at once:
    /// <list type="bullet">
    /// <item>the claim took all it was allowed and a send ended meanwhile (which woke nobody, the claim being sized
    /// without it);</item>
    /// <item>a tenant reached its share and the claim took fewer than it might: that tenant's backlog may have filled
    /// the candidates, and the others' due deliveries lie past them; the next claim leaves it out;</item>
    /// <item>an endpoint reached its share and the claim took fewer than it might, at most once a poll interval. Its
    /// backlog may have filled the candidates too, but claiming past it every time would walk that backlog on every
    /// claim while it lasts, the cost this class exists to avoid; once a poll interval bounds what lies past it to
    /// about that wait, whatever else wakes the sender meanwhile.</item>
    /// </list>
    /// </returns>
    public bool Take(int free, ClaimExclusions before, IReadOnlyCollection<(Guid EndpointId, string TenantId)> claimed)
    {
        lock (_gate)
        {
            foreach (var (endpointId, tenantId) in claimed)
            {
                _endpoints[endpointId] = _endpoints.GetValueOrDefault(endpointId) + 1;
                _tenants[tenantId] = _tenants.GetValueOrDefault(tenantId) + 1;
                _total++;
            }

            if (claimed.Count >= free)
            {
                return _total < _settings.MaxConcurrency;
            }

            var held = before.HeldTenants.Zip(before.HeldCounts).ToDictionary(h => h.First, h => h.Second, StringComparer.Ordinal);
            if (claimed.GroupBy(c => c.TenantId, StringComparer.Ordinal).Any(t => held.GetValueOrDefault(t.Key) + t.Count() >= _settings.PerTenantConcurrency))
            {
                return true;
            }

            if (claimed.GroupBy(c => c.EndpointId).Any(e => e.Count() >= _settings.PerEndpointConcurrency)
                && clock.GetElapsedTime(_lastPastEndpoint) >= _settings.PollInterval)
            {
                _lastPastEndpoint = clock.GetTimestamp();
                return true;
            }

            return false;
        }
    }

    /// <summary>A send ended.</summary>
    /// <returns>
    /// Whether a claim may now take what the last one could not: the endpoint has nothing in flight any more, or its
    /// tenant or the whole sender was at its share and no longer is.
    /// </returns>
    public bool Release(Guid endpointId, string tenantId)
    {
        lock (_gate)
        {
            var freed = Decrement(_endpoints, endpointId) == 0;
            freed |= Decrement(_tenants, tenantId) == _settings.PerTenantConcurrency - 1;
            freed |= _total-- == _settings.MaxConcurrency;
            return freed;
        }
    }

    /// <summary>
    /// Whether a claim run now could take a new due delivery for one of <paramref name="endpointIds"/>, all of
    /// <paramref name="tenantId"/>: false when each has a send in flight, or the tenant or the sender is at its share.
    /// Then the send that holds it wakes the sender when it ends (<see cref="Release"/>), after the delivery was stored.
    /// </summary>
    public bool CouldClaim(string tenantId, IEnumerable<Guid> endpointIds)
    {
        lock (_gate)
        {
            return _total < _settings.MaxConcurrency
                && _tenants.GetValueOrDefault(tenantId) < _settings.PerTenantConcurrency
                && endpointIds.Any(id => !_endpoints.ContainsKey(id));
        }
    }

    private static int Decrement<TKey>(Dictionary<TKey, int> counts, TKey key)
        where TKey : notnull
    {
        var left = counts.GetValueOrDefault(key) - 1;
        if (left <= 0)
        {
            counts.Remove(key);
            return 0;
        }

        counts[key] = left;
        return left;
    }
}

/// <summary>
/// What a claim leaves out: endpoints with a send in flight here, tenants at their share, and what each tenant holds
/// here (<paramref name="HeldTenants"/> hold <paramref name="HeldCounts"/>).
/// </summary>
public sealed record ClaimExclusions(Guid[] BusyEndpoints, string[] FullTenants, string[] HeldTenants, int[] HeldCounts)
{
    public static readonly ClaimExclusions None = new([], [], [], []);
}
