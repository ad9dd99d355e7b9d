using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AssistenteIa.Infrastructure.Persistence.Configurations;

internal sealed class AiTaskConfiguration : IEntityTypeConfiguration<AiTask>
{
    public void Configure(EntityTypeBuilder<AiTask> b)
    {
        b.ToTable("Tasks");
        b.HasKey(t => t.Id);
        b.Property(t => t.TenantId).HasMaxLength(64).IsRequired();
        b.Property(t => t.PayloadJson).HasColumnType("jsonb").IsRequired();
        b.Property(t => t.IdempotencyKey).HasMaxLength(255);
        b.Property(t => t.RequestHash).HasMaxLength(64);
        b.Property(t => t.CorrelationId).HasMaxLength(64).IsRequired();
        b.Property(t => t.LockedBy).HasMaxLength(200);
        b.Property(t => t.LastError).HasMaxLength(4000);
        b.Ignore(t => t.Type);
        b.Ignore(t => t.IsTerminal);
        b.Ignore(t => t.PendingEvents);

        // Optimistic concurrency: every claim and transition is an update conditional on this counter, which
        // AppDbContext bumps on each save. Lease renewals (raw SQL) leave it alone, so a heartbeat never makes the
        // worker's final save conflict. (xmin would change on every heartbeat.)
        b.Property<int>(AppDbContext.VersionProperty).IsConcurrencyToken();

        // No index covers LockedUntil, so a lease renewal is a HOT update (no index writes); the free space left
        // in each page keeps it on the same page.
        b.HasStorageParameter("fillfactor", 85);

        b.HasIndex(t => new { t.TenantId, t.IdempotencyKey }).IsUnique().HasFilter("\"IdempotencyKey\" IS NOT NULL");
        // Status included: the stats count a window's tasks by status from the index alone.
        b.HasIndex(t => new { t.TenantId, t.CreatedAt }).IsDescending(false, true).IncludeProperties(t => t.Status);
        b.HasIndex(t => new { t.TenantId, t.Status, t.CreatedAt }).IsDescending(false, false, true);
        // Only the statuses the scheduler (Created, Failed) and the stale-queue requeuer (Queued) look for: a task gets an
        // entry when it is created and none when it is claimed or finishes, so most of a task's life (and every finished
        // task of a large table) costs this index nothing. A query on another status must not rely on it.
        b.HasIndex(t => new { t.Status, t.ScheduledAt })
            .HasFilter("\"Status\" IN ('Created', 'Queued', 'Failed')")
            .HasDatabaseName("IX_Tasks_Due");

        // Finished tasks by when they finished (a finished task is never changed again, so UpdatedAt is that time), for the stats' throughput.
        b.HasIndex(t => new { t.TenantId, t.UpdatedAt })
            .IncludeProperties(t => t.Status)
            .HasFilter("\"Status\" IN ('Succeeded', 'Cancelled', 'DeadLetter')")
            .HasDatabaseName("IX_Tasks_TenantFinished");

        // The few leased tasks, for the rescuer; and the unfinished Critical tasks of a tenant, for the priority cap.
        b.HasIndex(t => t.Status).HasFilter("\"Status\" IN ('Reserved', 'Running')").HasDatabaseName("IX_Tasks_Leased");
        b.HasIndex(t => t.TenantId)
            .HasFilter("\"Priority\" = 'Critical' AND \"Status\" IN ('Created', 'Queued', 'Reserved', 'Running', 'Failed')")
            .HasDatabaseName("IX_Tasks_OpenCritical");
    }
}

internal sealed class TaskAttemptConfiguration : IEntityTypeConfiguration<TaskAttempt>
{
    public void Configure(EntityTypeBuilder<TaskAttempt> b)
    {
        b.ToTable("TaskAttempts");
        b.HasKey(a => a.Id);
        b.HasOne<AiTask>().WithMany().HasForeignKey(a => a.TaskId).OnDelete(DeleteBehavior.Cascade);
        b.HasIndex(a => new { a.TaskId, a.AttemptNo }).IsUnique();
        b.Property(a => a.TenantId).HasMaxLength(64).IsRequired();

        // A tenant's attempts by start time, with what the stats' latency and usage read: an index-only range, no join to Tasks.
        b.HasIndex(a => new { a.TenantId, a.StartedAt })
            .IncludeProperties(a => new { a.AttemptNo, a.DueAt, a.EndedAt, a.LatencyMs, a.Model, a.TokensIn, a.TokensOut, a.Cost });
        b.Property(a => a.Model).HasMaxLength(200);
        b.Property(a => a.WorkerId).HasMaxLength(200);
        b.Property(a => a.Cost).HasPrecision(18, 8);
        b.Property(a => a.InputPricePerMillion).HasPrecision(18, 6);
        b.Property(a => a.OutputPricePerMillion).HasPrecision(18, 6);
        b.Property(a => a.ErrorCode).HasMaxLength(100);
        b.Property(a => a.ErrorDetail).HasMaxLength(4000);
        b.Property(a => a.Unit).HasMaxLength(TaskAttempt.MaxUnitLength);
        b.Property(a => a.UnitPrice).HasPrecision(18, 8);
    }
}

internal sealed class TaskArtifactConfiguration : IEntityTypeConfiguration<TaskArtifact>
{
    public void Configure(EntityTypeBuilder<TaskArtifact> b)
    {
        b.ToTable("TaskArtifacts");
        b.HasKey(a => a.Id);
        b.HasOne<AiTask>().WithMany().HasForeignKey(a => a.TaskId).OnDelete(DeleteBehavior.Cascade);
        b.HasIndex(a => a.TaskId);
        b.Property(a => a.Uri).HasMaxLength(2048);
        b.Property(a => a.Name).HasMaxLength(TaskArtifact.MaxNameLength);
        b.Property(a => a.MediaType).HasMaxLength(StoredFile.MaxMediaTypeLength);
    }
}

internal sealed class DocumentChunkConfiguration : IEntityTypeConfiguration<DocumentChunk>
{
    public void Configure(EntityTypeBuilder<DocumentChunk> b)
    {
        b.ToTable("DocumentChunks");
        b.HasKey(c => c.Id);
        b.Property(c => c.Id).UseIdentityAlwaysColumn();
        b.Property(c => c.TenantId).HasMaxLength(64).IsRequired();
        b.HasOne<Tenant>().WithMany().HasForeignKey(c => c.TenantId).OnDelete(DeleteBehavior.Cascade);
        b.Property(c => c.Collection).HasMaxLength(DocumentChunk.MaxCollectionLength).IsRequired();
        b.Property(c => c.Model).HasMaxLength(TaskAttempt.MaxModelLength).IsRequired();
        b.Property(c => c.MetadataJson).HasColumnType("jsonb");
        b.Property(c => c.Embedding).HasColumnType("real[]").IsRequired();

        // A search index reads a collection's vectors of one model in id order, from where it last stopped.
        b.HasIndex(c => new { c.TenantId, c.Collection, c.Model, c.Id });

        // A retried embedding replaces the chunks of its document.
        b.HasIndex(c => new { c.DocumentId, c.ChunkNo }).IsUnique();
    }
}

internal sealed class SearchCollectionConfiguration : IEntityTypeConfiguration<SearchCollection>
{
    public void Configure(EntityTypeBuilder<SearchCollection> b)
    {
        b.ToTable("SearchCollections");
        b.HasKey(c => new { c.TenantId, c.Name, c.Model });
        b.Property(c => c.TenantId).HasMaxLength(64);
        b.HasOne<Tenant>().WithMany().HasForeignKey(c => c.TenantId).OnDelete(DeleteBehavior.Cascade);
        b.Property(c => c.Name).HasMaxLength(DocumentChunk.MaxCollectionLength);
        b.Property(c => c.Model).HasMaxLength(TaskAttempt.MaxModelLength);
    }
}

internal sealed class StoredFileConfiguration : IEntityTypeConfiguration<StoredFile>
{
    public void Configure(EntityTypeBuilder<StoredFile> b)
    {
        b.ToTable("Files");
        b.HasKey(f => f.Id);
        b.Property(f => f.TenantId).HasMaxLength(64).IsRequired();
        b.HasOne<Tenant>().WithMany().HasForeignKey(f => f.TenantId).OnDelete(DeleteBehavior.Cascade);
        b.HasIndex(f => new { f.TenantId, f.CreatedAt });
        b.HasIndex(f => f.TaskId);
        b.Property(f => f.Name).HasMaxLength(StoredFile.MaxNameLength);
        b.Property(f => f.MediaType).HasMaxLength(StoredFile.MaxMediaTypeLength);
        b.Property(f => f.Sha256).HasMaxLength(64).IsFixedLength();

        // Read only by GET /api/v1/files/{id} and the skills; listing files never loads it.
        b.Property(f => f.Content).IsRequired();
    }
}

internal sealed class OutboxMessageConfiguration : IEntityTypeConfiguration<OutboxMessage>
{
    public void Configure(EntityTypeBuilder<OutboxMessage> b)
    {
        b.ToTable("OutboxMessages");
        b.HasKey(m => m.Id);
        b.Property(m => m.Destination).HasMaxLength(200).IsRequired();
        b.Property(m => m.MessageType).HasMaxLength(200).IsRequired();
        b.Property(m => m.PayloadJson).HasColumnType("jsonb").IsRequired();
        b.Property(m => m.CorrelationId).HasMaxLength(64);
        b.Property(m => m.TraceParent).HasMaxLength(128);
        b.Property(m => m.LastError).HasMaxLength(2000);
        b.Property(m => m.TenantId).HasMaxLength(64);

        // A task event nobody listens to is written already sent by the database (TaskEventDemand): read back.
        b.Property(m => m.SentAt).ValueGeneratedOnAdd();

        // The relay reads only unsent rows, oldest first. The purge walks the primary key (ids are written in time order).
        b.HasIndex(m => m.CreatedAt).HasFilter("\"SentAt\" IS NULL").HasDatabaseName("IX_OutboxMessages_Unsent");

        // The stale-queue requeuer leaves a task whose work message is still unsent to the relay: looked up per task, also
        // when a broker outage left many unsent (one small entry per task while its message waits to be published).
        b.HasIndex(m => m.TaskId).HasFilter("\"SentAt\" IS NULL AND \"Destination\" = 'tasks-queued'").HasDatabaseName(AppDbContext.UnsentWorkIndex);

        // The event streams replay a tenant's recent events in order.
        b.HasIndex(m => new { m.TenantId, m.CreatedAt }).HasFilter("\"Destination\" = 'task-events'").HasDatabaseName("IX_OutboxMessages_TenantEvents");

        // One row per save of a task's events, numbered by its first (a task has a few: TaskEventRows): a task's stream
        // reads its events here. Unique, because a save made from a stale read of a task records its next event under a
        // sequence number that the change it missed already took, so the database refuses that save whole, with a transaction or without one
        // (AppDbContext.SaveInOneRoundTripAsync).
        b.HasIndex(m => new { m.TaskId, m.EventSequence }).IsUnique()
            .HasFilter("\"Destination\" = 'task-events'").HasDatabaseName(AppDbContext.TaskEventSequenceIndex);
    }
}

internal sealed class EventListenerConfiguration : IEntityTypeConfiguration<EventListener>
{
    public void Configure(EntityTypeBuilder<EventListener> b)
    {
        b.ToTable("EventListeners");
        b.HasKey(l => l.Name);
        b.Property(l => l.Name).HasMaxLength(200);
    }
}

internal sealed class TenantConfiguration : IEntityTypeConfiguration<Tenant>
{
    public void Configure(EntityTypeBuilder<Tenant> b)
    {
        b.ToTable("Tenants");
        b.HasKey(t => t.Id);
        b.Property(t => t.Id).HasMaxLength(64);
        b.Property(t => t.Name).HasMaxLength(200).IsRequired();
    }
}

internal sealed class ApiKeyConfiguration : IEntityTypeConfiguration<ApiKey>
{
    public void Configure(EntityTypeBuilder<ApiKey> b)
    {
        b.ToTable("ApiKeys");
        b.HasKey(k => k.Id);
        b.HasOne<Tenant>().WithMany().HasForeignKey(k => k.TenantId).OnDelete(DeleteBehavior.Cascade);
        b.Property(k => k.KeyHash).HasMaxLength(64).IsRequired();
        b.Property(k => k.Prefix).HasMaxLength(16).IsRequired();
        b.HasIndex(k => k.KeyHash).IsUnique();
    }
}

internal sealed class WebhookEndpointConfiguration : IEntityTypeConfiguration<WebhookEndpoint>
{
    public void Configure(EntityTypeBuilder<WebhookEndpoint> b)
    {
        b.ToTable("WebhookEndpoints");
        b.HasKey(e => e.Id);
        b.HasOne<Tenant>().WithMany().HasForeignKey(e => e.TenantId).OnDelete(DeleteBehavior.Cascade);
        b.Property(e => e.TenantId).HasMaxLength(64).IsRequired();
        b.Property(e => e.Url).HasMaxLength(WebhookEndpoint.MaxUrlLength).IsRequired();
        b.Property(e => e.Events).IsRequired();
        b.Property(e => e.Description).HasMaxLength(WebhookEndpoint.MaxDescriptionLength);
        b.Property(e => e.ProtectedSecret).HasMaxLength(2000).IsRequired();
        b.Property(e => e.DisabledReason).HasMaxLength(500);
        b.HasIndex(e => e.TenantId);
    }
}

internal sealed class WebhookDeliveryConfiguration : IEntityTypeConfiguration<WebhookDelivery>
{
    public void Configure(EntityTypeBuilder<WebhookDelivery> b)
    {
        b.ToTable("WebhookDeliveries");
        b.HasKey(d => d.Id);
        b.HasOne<WebhookEndpoint>().WithMany().HasForeignKey(d => d.EndpointId).OnDelete(DeleteBehavior.Cascade);
        b.Property(d => d.TenantId).HasMaxLength(64).IsRequired();
        b.Property(d => d.EventType).HasMaxLength(100).IsRequired();
        b.Property(d => d.PayloadJson).IsRequired();
        b.Property(d => d.Status).HasConversion<StoredEnumConverter<WebhookDeliveryStatus>>().HasMaxLength(20);
        b.Property(d => d.LastError).HasMaxLength(2000);

        // One delivery per endpoint and event, however often the event arrives.
        b.HasIndex(d => new { d.EndpointId, d.EventId }).IsUnique();

        // The sender reads due pending deliveries; the API lists an endpoint's newest first.
        b.HasIndex(d => d.NextAttemptAt).HasFilter("\"Status\" = 'Pending'").HasDatabaseName("IX_WebhookDeliveries_Due");
        b.HasIndex(d => new { d.EndpointId, d.CreatedAt }).IsDescending(false, true);
    }
}
