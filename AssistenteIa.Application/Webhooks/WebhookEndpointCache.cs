using System.Collections.Concurrent;

namespace AssistenteIa.Application.Webhooks;

/// <summary>An enabled endpoint and the event types it is subscribed to.</summary>
public sealed record SubscribedEndpoint(Guid Id, IReadOnlyList<string> Events);

/// <summary>
/// Each tenant's enabled endpoints as ServiceC's fan-out last read them, kept for at most <see cref="Duration"/>: a burst
/// of task events costs one endpoint query per tenant per <see cref="Duration"/> instead of one per event (five per
/// task). The API answers a change that adds an endpoint to the fan-out (registered, enabled again) only after
/// <see cref="SettleTime"/>, when every entry read before the change has expired: a task event written after that
/// answer is fanned out to the endpoint (one written during the wait may not be). An endpoint deleted or disabled
/// meanwhile may still get deliveries for up to <see cref="Duration"/>; the sender abandons those, and a delivery refused
/// by the database (endpoint gone) makes the fan-out read the endpoints again. The API and ServiceC must run the same
/// <see cref="Duration"/>: deploy a longer one to ServiceC only after the API.
/// </summary>
public sealed class WebhookEndpointCache(TimeProvider clock)
{
    public static readonly TimeSpan Duration = TimeSpan.FromSeconds(1);

    /// <summary>How long the API waits after committing an endpoint change before it answers: <see cref="Duration"/> and a margin.</summary>
    public static readonly TimeSpan SettleTime = Duration + TimeSpan.FromMilliseconds(500);

    /// <summary>Tenants remembered at most; past it the cache starts over (each tenant costs one query again).</summary>
    public const int MaxTenants = 10_000;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <param name="fresh">Read the endpoints now whatever the cache holds (after the database refused a delivery).</param>
    public async Task<IReadOnlyList<SubscribedEndpoint>> GetAsync(
        string tenantId, Func<CancellationToken, Task<IReadOnlyList<SubscribedEndpoint>>> load, CancellationToken cancellationToken, bool fresh = false)
    {
        // Stamped before the read starts: an entry is never younger than the data in it.
        var readAt = clock.GetTimestamp();
        if (!fresh && _entries.TryGetValue(tenantId, out var entry) && clock.GetElapsedTime(entry.ReadAt, readAt) < Duration)
        {
            return entry.Endpoints;
        }

        var endpoints = await load(cancellationToken);
        if (_entries.Count >= MaxTenants)
        {
            _entries.Clear();
        }

        // A read that started earlier than the one stored (concurrent handlers) never replaces it.
        var read = new Entry(readAt, endpoints);
        _entries.AddOrUpdate(tenantId, read, (_, stored) => stored.ReadAt > readAt ? stored : read);
        return endpoints;
    }

    private sealed record Entry(long ReadAt, IReadOnlyList<SubscribedEndpoint> Endpoints);
}
