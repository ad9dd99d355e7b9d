using AssistenteIa.Domain.Outbox;
using AssistenteIa.Domain.Tasks;
using AssistenteIa.Domain.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace AssistenteIa.Application.Abstractions;

/// <summary>The persistence port: the application queries and changes aggregates through it.</summary>
public interface IAppDbContext
{
    DbSet<AiTask> Tasks { get; }
    DbSet<TaskAttempt> TaskAttempts { get; }
    DbSet<TaskArtifact> TaskArtifacts { get; }
    DbSet<OutboxMessage> OutboxMessages { get; }
    DbSet<Tenant> Tenants { get; }
    DbSet<ApiKey> ApiKeys { get; }

    Task<int> SaveChangesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Extends, by the database's clock, the leases <paramref name="workerId"/> still holds among
    /// <paramref name="taskIds"/>; returns those renewed (a missing id is a lease lost). Leaves the row version alone.
    /// </summary>
    Task<IReadOnlyList<LeaseRenewal>> RenewLeasesAsync(string workerId, IReadOnlyCollection<Guid> taskIds, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>
    /// Reserved or running tasks whose lease ended by the database's clock, oldest first, locked
    /// (<c>FOR UPDATE SKIP LOCKED</c>) until the caller's transaction ends: a heartbeat racing the rescue waits,
    /// then finds the lease gone.
    /// </summary>
    Task<List<AiTask>> LockExpiredLeasesAsync(int batchSize, CancellationToken cancellationToken);

    Task<IDbContextTransaction> BeginTransactionAsync(CancellationToken cancellationToken);

    /// <summary>Forgets every tracked entity (after a failed save, before reading fresh state).</summary>
    void ClearTracking();
}

public sealed record LeaseRenewal(Guid TaskId, bool CancelRequested);
