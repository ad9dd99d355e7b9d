using AssistenteIa.Domain.Outbox;
using AssistenteIa.Domain.Tasks;
using AssistenteIa.Domain.Tenants;
using Microsoft.EntityFrameworkCore;

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

    /// <summary>Forgets every tracked entity (after a failed save, before reading fresh state).</summary>
    void ClearTracking();
}
