using AssistenteIa.Infrastructure.Persistence;
using Microsoft.Extensions.DependencyInjection;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>What an <see cref="OnDemandBinding"/> registers before it binds, so that what it binds to is published at all.</summary>
public interface IBindingListener
{
    /// <summary>Registers, or renews a live registration; true when what was written meanwhile may not have been published (catch up).</summary>
    Task<bool> EnsureAsync(CancellationToken cancellationToken);

    Task RemoveAsync(CancellationToken cancellationToken);
}

/// <summary>
/// An instance's row of <c>EventListeners</c> (<see cref="TaskEventDemand"/>) with a lease: a process that dies leaves
/// events published for at most <paramref name="lease"/> more, and one that cannot renew in time registers again and
/// catches up. A registration is settled once the wait for the transactions that decided without it has finished; until
/// then (the wait failed or timed out) every call waits again and asks for another catch-up. Calls do not overlap (the
/// binding's lock).
/// </summary>
public sealed class TaskEventListenerLease(IServiceScopeFactory scopes, string name, TimeSpan lease) : IBindingListener
{
    private bool _unsettled;

    public string Name => name;

    public TimeSpan Lease => lease;

    public async Task<bool> EnsureAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        if (!await TaskEventDemand.RenewAsync(db, name, lease, cancellationToken))
        {
            _unsettled = true;
            await TaskEventDemand.RegisterAsync(db, name, lease, cancellationToken);
        }

        if (!_unsettled)
        {
            return false;
        }

        // A failure here leaves it unsettled: the next call waits again.
        _unsettled = !await TaskEventDemand.WaitForUndecidedAsync(db, cancellationToken);
        return true;
    }

    public async Task RemoveAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        await TaskEventDemand.RemoveAsync(scope.ServiceProvider.GetRequiredService<AppDbContext>(), name, cancellationToken);
    }
}
