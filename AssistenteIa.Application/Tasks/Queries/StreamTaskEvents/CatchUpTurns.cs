using System.Collections.Concurrent;

namespace AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;

/// <summary>
/// Turns to read the database for the streams of one instance: at most <c>total</c> at once, and at most
/// <c>perTenant</c> of them for one tenant. A tenant whose streams keep reconnecting far behind waits for its own turns
/// and leaves the others' free, instead of queueing every other tenant's resume behind its reads.
/// </summary>
public sealed class CatchUpTurns(int total, int perTenant) : IDisposable
{
    private readonly SemaphoreSlim _total = new(total, total);

    // One per tenant that has read: tenants are the API keys an operator created, not what a client sends.
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _byTenant = new(StringComparer.Ordinal);

    /// <summary>Waits for the tenant's turn, then for the instance's; disposing the turn gives both back.</summary>
    public async Task<Turn> TakeAsync(string tenantId, CancellationToken cancellationToken)
    {
        var own = _byTenant.GetOrAdd(tenantId, _ => new SemaphoreSlim(perTenant, perTenant));
        await own.WaitAsync(cancellationToken);
        try
        {
            await _total.WaitAsync(cancellationToken);
        }
        catch
        {
            own.Release();
            throw;
        }

        return new Turn(own, _total);
    }

    public void Dispose()
    {
        _total.Dispose();
        foreach (var own in _byTenant.Values)
        {
            own.Dispose();
        }
    }

    /// <summary>A turn to read, given back when the read is done.</summary>
    public readonly struct Turn(SemaphoreSlim own, SemaphoreSlim total) : IDisposable
    {
        public void Dispose()
        {
            total.Release();
            own.Release();
        }
    }
}
