using AssistenteIa.Infrastructure.Persistence;
using Microsoft.Extensions.DependencyInjection;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>What an <see cref="OnDemandBinding"/> registers before it binds, so that what it binds to is published at all.</summary>
public interface IBindingListener
{
    /// <summary>Registers, or renews a live registration; true when it had to register (what was written meanwhile may not have been published).</summary>
    Task<bool> EnsureAsync(CancellationToken cancellationToken);

    Task RemoveAsync(CancellationToken cancellationToken);
}

/// <summary>
/// An instance's row of <c>EventListeners</c> (<see cref="TaskEventDemand"/>) with a lease: a process that dies leaves
/// events published for at most <paramref name="lease"/> more, and one that cannot renew in time registers again and
/// catches up.
/// </summary>
public sealed class TaskEventListenerLease(IServiceScopeFactory scopes, string name, TimeSpan lease) : IBindingListener
{
    public string Name => name;

    public TimeSpan Lease => lease;

    public async Task<bool> EnsureAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await TaskEventDemand.EnsureAsync(scope.ServiceProvider.GetRequiredService<AppDbContext>(), name, lease, cancellationToken);
    }

    public async Task RemoveAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        await TaskEventDemand.RemoveAsync(scope.ServiceProvider.GetRequiredService<AppDbContext>(), name, cancellationToken);
    }
}
