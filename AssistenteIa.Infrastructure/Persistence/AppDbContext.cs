using AssistenteIa.Application.Abstractions;
using AssistenteIa.Domain.Outbox;
using AssistenteIa.Domain.Tasks;
using AssistenteIa.Domain.Tenants;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Infrastructure.Persistence;

public sealed class AppDbContext(DbContextOptions<AppDbContext> options) : DbContext(options), IAppDbContext
{
    public DbSet<AiTask> Tasks => Set<AiTask>();
    public DbSet<TaskAttempt> TaskAttempts => Set<TaskAttempt>();
    public DbSet<TaskArtifact> TaskArtifacts => Set<TaskArtifact>();
    public DbSet<OutboxMessage> OutboxMessages => Set<OutboxMessage>();
    public DbSet<Tenant> Tenants => Set<Tenant>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();

    public void ClearTracking() => ChangeTracker.Clear();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(AppDbContext).Assembly);

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Enums are stored by the names the user chose, readable in SQL and stable if members are reordered.
        configurationBuilder.Properties<DomainType>().HaveConversion<string>().HaveMaxLength(40);
        configurationBuilder.Properties<CapabilityType>().HaveConversion<string>().HaveMaxLength(40);
        configurationBuilder.Properties<ExecutionType>().HaveConversion<string>().HaveMaxLength(40);
        configurationBuilder.Properties<Priority>().HaveConversion<string>().HaveMaxLength(20);
        configurationBuilder.Properties<AiTaskStatus>().HaveConversion<string>().HaveMaxLength(20);
        configurationBuilder.Properties<AttemptStatus>().HaveConversion<string>().HaveMaxLength(20);
        configurationBuilder.Properties<ArtifactKind>().HaveConversion<string>().HaveMaxLength(20);
    }
}
