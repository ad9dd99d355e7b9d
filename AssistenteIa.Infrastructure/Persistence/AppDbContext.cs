using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace AssistenteIa.Infrastructure.Persistence;

public sealed class AppDbContext(DbContextOptions<AppDbContext> options) : DbContext(options), IAppDbContext, IDataProtectionKeyContext
{
    /// <summary>The optimistic-concurrency column of <c>Tasks</c>: bumped by every change saved through EF, never by a lease renewal.</summary>
    public const string VersionProperty = "Version";

    public DbSet<AiTask> Tasks => Set<AiTask>();
    public DbSet<TaskAttempt> TaskAttempts => Set<TaskAttempt>();
    public DbSet<TaskArtifact> TaskArtifacts => Set<TaskArtifact>();
    public DbSet<OutboxMessage> OutboxMessages => Set<OutboxMessage>();
    public DbSet<EventListener> EventListeners => Set<EventListener>();
    public DbSet<Tenant> Tenants => Set<Tenant>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<WebhookEndpoint> WebhookEndpoints => Set<WebhookEndpoint>();
    public DbSet<WebhookDelivery> WebhookDeliveries => Set<WebhookDelivery>();
    public DbSet<StoredFile> Files => Set<StoredFile>();
    public DbSet<DocumentChunk> DocumentChunks => Set<DocumentChunk>();
    public DbSet<SearchCollection> SearchCollections => Set<SearchCollection>();

    /// <summary>The ASP.NET Data Protection key ring, shared by the API (which encrypts webhook secrets) and ServiceC (which signs with them).</summary>
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    private readonly List<OutboxMessage> _eventMessages = [];

    /// <summary>
    /// Rows saved inside a transaction begun by <see cref="BeginTransactionAsync"/> that has not committed yet: EF
    /// calls them Unchanged once the save returns, but a rollback would leave them never stored, so they are not handed
    /// out until the commit (and dropped with a rollback).
    /// </summary>
    private readonly HashSet<OutboxMessage> _awaitingCommit = new(ReferenceEqualityComparer.Instance);

    public void ClearTracking()
    {
        ChangeTracker.Clear();
        _eventMessages.Clear();
        _awaitingCommit.Clear();
    }

    /// <summary>A pooled context is reset, not thrown away: rows listed by a save that never committed go with it.</summary>
    public override void Dispose()
    {
        _eventMessages.Clear();
        _awaitingCommit.Clear();
        _open = null;
        base.Dispose();
    }

    /// <inheritdoc cref="Dispose"/>
    public override ValueTask DisposeAsync()
    {
        _eventMessages.Clear();
        _awaitingCommit.Clear();
        _open = null;
        return base.DisposeAsync();
    }

    /// <summary>
    /// Rows up to which <see cref="SaveInOneRoundTripAsync"/> skips the explicit transaction: a claim writes 3 (the task,
    /// its attempt, its events' row), an outcome about 4, a create 3; below the provider's batch size (1,000 statements
    /// unless configured lower, which also bounds it), so the save stays one batch, one implicit transaction. A larger
    /// save takes the ordinary one.
    /// </summary>
    public const int MaxRowsWithoutTransaction = 12;

    private int? _maxRowsInOneBatch;

    private int? _minRowsInOneBatch;

    /// <summary>A task's work message while it is unsent: what tells the stale-queue requeuer the relay still has it.</summary>
    public const string UnsentWorkIndex = "IX_OutboxMessages_UnsentWork";

    /// <summary>The unique index of a task's event rows by sequence number: what refuses a save made from a stale read.</summary>
    public const string TaskEventSequenceIndex = "IX_OutboxMessages_TaskEventSequence";

    public async Task<int> SaveInOneRoundTripAsync(CancellationToken cancellationToken)
    {
        // The events' outbox rows first, so they are counted with the rest.
        StageTaskEvents();
        var pending = 0;
        var oneBatch = true;
        foreach (var entry in AsDetected(() => ChangeTracker.Entries().ToList()))
        {
            switch (entry.State, entry.Entity)
            {
                case (EntityState.Unchanged, _):
                    break;

                // Keys the application makes, so nothing waits for a key from the database (that would split the save
                // into batches, each committed on its own). The only conditional write among them, the task's version
                // check, is backed by the unique sequence of the task's events, which the database checks itself.
                case (EntityState.Added, AiTask or OutboxMessage or TaskAttempt or TaskArtifact):
                case (EntityState.Modified, AiTask or TaskAttempt):
                    pending++;
                    break;
                default:
                    oneBatch = false;
                    break;
            }
        }

        // Fewer statements than the provider's minimum batch size are sent one by one: each would commit on its own.
        if (_maxRowsInOneBatch is null || _minRowsInOneBatch is null)
        {
            var batching = RelationalOptionsExtension.Extract(this.GetService<IDbContextOptions>());
            _maxRowsInOneBatch = Math.Min(MaxRowsWithoutTransaction, batching.MaxBatchSize ?? int.MaxValue);
            _minRowsInOneBatch = batching.MinBatchSize ?? 1;
        }

        if (!oneBatch || pending == 0 || pending < _minRowsInOneBatch || pending > _maxRowsInOneBatch || Database.CurrentTransaction is not null)
        {
            return await SaveStagedAsync(cancellationToken);
        }

        var behavior = Database.AutoTransactionBehavior;
        Database.AutoTransactionBehavior = AutoTransactionBehavior.Never;
        try
        {
            return await SaveStagedAsync(cancellationToken);
        }
        finally
        {
            Database.AutoTransactionBehavior = behavior;
        }
    }

    public void StageEvents(string? traceParent) => StageTaskEvents(traceParent);

    public void Forget(IEnumerable<OutboxMessage> messages)
    {
        foreach (var message in messages)
        {
            Entry(message).State = EntityState.Detached;
        }
    }

    public IReadOnlyList<OutboxMessage> TakeSavedOutboxMessages()
    {
        // Rows of a save that failed are still Added: they go out with the save that finally stores them. Rows saved in
        // a transaction still open wait for its commit. Rows this context no longer tracks (a transaction rolled back,
        // the pooled context was reset) are dropped.
        // A task event the database wrote already sent (nobody listens: TaskEventDemand) is not published.
        var saved = _eventMessages.FindAll(m => Entry(m).State == EntityState.Unchanged && !_awaitingCommit.Contains(m));
        _eventMessages.RemoveAll(m => Entry(m).State is EntityState.Detached || (Entry(m).State == EntityState.Unchanged && !_awaitingCommit.Contains(m)));
        var unsent = saved.FindAll(m => m.SentAt is null);
        if (unsent.Count < saved.Count)
        {
            Forget(saved.Where(m => m.SentAt is not null));
        }

        return unsent;
    }

    public async Task<IDbContextTransaction> BeginTransactionAsync(CancellationToken cancellationToken)
    {
        // Every caller gives up the whole transaction when a save in it fails (it is rolled back on dispose) and never
        // saves again inside it: EF's savepoint around each save would be two more round trips for nothing.
        Database.AutoSavepointsEnabled = false;
        _open = new OutboxAwareTransaction(this, await Database.BeginTransactionAsync(cancellationToken));
        return _open;
    }

    public Task InLockedTransactionAsync(string lockName, Func<CancellationToken, Task> work, Func<CancellationToken, Task<bool>> committed, CancellationToken cancellationToken) =>
        Database.CreateExecutionStrategy().ExecuteAsync(
            lockName,
            async (_, name, ct) =>
            {
                await using var transaction = await BeginTransactionAsync(ct);
                await Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtextextended({name}, 0))", ct);
                await work(ct);
                await transaction.CommitAsync(ct);
                return true;
            },
            async (_, _, ct) => new ExecutionResult<bool>(await committed(ct), true),
            cancellationToken);

    /// <summary>The transaction <see cref="BeginTransactionAsync"/> began and that has not ended.</summary>
    private OutboxAwareTransaction? _open;

    /// <summary>The rows saved in the transaction are stored: they may be handed out.</summary>
    private void Committed()
    {
        _open = null;
        _awaitingCommit.Clear();
    }

    /// <summary>The transaction ended without a commit: the rows saved in it were never stored, and are forgotten.</summary>
    private void RolledBack()
    {
        _open = null;
        foreach (var message in _awaitingCommit)
        {
            _eventMessages.Remove(message);
            Entry(message).State = EntityState.Detached;
        }

        _awaitingCommit.Clear();
    }

    /// <summary>
    /// EF's transaction, telling the context how it ended (<see cref="_awaitingCommit"/>): a commit that threw, a
    /// rollback, or a dispose without a commit all leave the rows unstored.
    /// </summary>
    private sealed class OutboxAwareTransaction(AppDbContext context, IDbContextTransaction inner) : IDbContextTransaction
    {
        private bool _ended;

        public IDbContextTransaction Inner => inner;

        public Guid TransactionId => inner.TransactionId;

        public void Commit()
        {
            inner.Commit();
            End(committed: true);
        }

        public async Task CommitAsync(CancellationToken cancellationToken = default)
        {
            await inner.CommitAsync(cancellationToken);
            End(committed: true);
        }

        // Whatever forgetting the rows does, the transaction itself always ends: one left open on a pooled connection
        // would hold its locks, and its statements would commit or roll back with whoever uses the connection next.
        public void Rollback()
        {
            try
            {
                End(committed: false);
            }
            finally
            {
                inner.Rollback();
            }
        }

        public async Task RollbackAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                End(committed: false);
            }
            finally
            {
                await inner.RollbackAsync(cancellationToken);
            }
        }

        public void Dispose()
        {
            try
            {
                End(committed: false);
            }
            finally
            {
                inner.Dispose();
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                End(committed: false);
            }
            finally
            {
                await inner.DisposeAsync();
            }
        }

        private void End(bool committed)
        {
            if (_ended)
            {
                return;
            }

            _ended = true;
            if (committed)
            {
                context.Committed();
            }
            else
            {
                context.RolledBack();
            }
        }
    }

    public async Task<ClaimCandidate?> FindTaskWithDatabaseClockAsync(Guid taskId, CancellationToken cancellationToken)
    {
        // DateTimeOffset.UtcNow is not evaluated here: EF leaves it to the query, which Npgsql translates to now().
        var row = await Tasks.Where(t => t.Id == taskId)
            .Select(t => new { Task = t, DatabaseNow = DateTimeOffset.UtcNow })
            .FirstOrDefaultAsync(cancellationToken);
        return row is null ? null : new ClaimCandidate(row.Task, row.DatabaseNow);
    }

    public AiTask AttachQueued(QueuedTask queued)
    {
        var task = AiTask.Restore(queued.State);
        var entry = Tasks.Attach(task);
        var version = entry.Property<int>(VersionProperty);
        version.OriginalValue = queued.Version;
        version.CurrentValue = queued.Version;
        return task;
    }

    public async Task<IReadOnlyList<Guid>> AddMissingDeliveriesAsync(IReadOnlyList<WebhookDelivery> deliveries, CancellationToken cancellationToken)
    {
        // The columns WebhookDelivery.Create sets; the others (claim, last attempt, delivered) start empty.
        var ids = deliveries.Select(d => d.Id).ToArray();
        var endpoints = deliveries.Select(d => d.EndpointId).ToArray();
        var tenants = deliveries.Select(d => d.TenantId).ToArray();
        var events = deliveries.Select(d => d.EventId).ToArray();
        var types = deliveries.Select(d => d.EventType).ToArray();
        var bodies = deliveries.Select(d => d.PayloadJson).ToArray();
        var statuses = deliveries.Select(d => d.Status.ToString()).ToArray();
        var attempts = deliveries.Select(d => d.Attempts).ToArray();
        var due = deliveries.Select(d => d.NextAttemptAt).ToArray();
        var created = deliveries.Select(d => d.CreatedAt).ToArray();
        return await Database.SqlQuery<Guid>($"""
                INSERT INTO "WebhookDeliveries"
                    ("Id", "EndpointId", "TenantId", "EventId", "EventType", "PayloadJson", "Status", "Attempts", "NextAttemptAt", "CreatedAt")
                SELECT * FROM unnest({ids}, {endpoints}, {tenants}, {events}, {types}, {bodies}, {statuses}, {attempts}, {due}, {created})
                ON CONFLICT ("EndpointId", "EventId") DO NOTHING
                RETURNING "EndpointId" AS "Value"
                """)
            .ToListAsync(cancellationToken);
    }

    public Task<int> UndoHalfClaimAsync(Guid taskId, int attemptNo, IReadOnlyCollection<Guid> outboxIds, CancellationToken cancellationToken)
    {
        var ids = outboxIds.ToArray();
        return Database.ExecuteSqlAsync(
            $"""
            WITH orphan AS (SELECT 1 FROM "Tasks" WHERE "Id" = {taskId} AND "AttemptCount" < {attemptNo}),
            rows AS (DELETE FROM "OutboxMessages" WHERE "Id" = ANY({ids}) AND "TaskId" = {taskId} AND EXISTS (SELECT 1 FROM orphan))
            DELETE FROM "TaskAttempts" WHERE "TaskId" = {taskId} AND "AttemptNo" = {attemptNo} AND EXISTS (SELECT 1 FROM orphan)
            """,
            cancellationToken);
    }

    public async Task<IReadOnlyList<LeaseRenewal>> RenewLeasesAsync(
        string workerId, IReadOnlyCollection<AttemptLease> attempts, TimeSpan lease, TimeSpan answerWithin, CancellationToken cancellationToken)
    {
        var ids = attempts.Select(a => a.TaskId).ToArray();
        var numbers = attempts.Select(a => a.AttemptNo).ToArray();

        // For this statement only: a claim's context goes on to record the attempt's outcome with its own timeout.
        var timeout = Database.GetCommandTimeout();
        Database.SetCommandTimeout(answerWithin);
        try
        {
            return await Database.SqlQuery<LeaseRenewal>($"""
                    UPDATE "Tasks" AS t SET "LockedUntil" = now() + {lease}
                    FROM unnest({ids}, {numbers}) AS held("Id", "AttemptNo")
                    WHERE t."Id" = held."Id" AND t."AttemptCount" = held."AttemptNo"
                      AND t."LockedBy" = {workerId} AND t."Status" IN ('Reserved', 'Running')
                    RETURNING t."Id" AS "TaskId", t."AttemptCount" AS "AttemptNo", t."CancelRequested"
                    """)
                .ToListAsync(cancellationToken);
        }
        finally
        {
            Database.SetCommandTimeout(timeout);
        }
    }

    public Task<int> PurgeSentOutboxAsync(TimeSpan retention, int batchSize, CancellationToken cancellationToken) =>
        // The smallest version 7 id of the cutoff's millisecond (48 bits of Unix milliseconds, then zeros) bounds the
        // ids written before it. A row sent after the cutoff, or not at all (left to the relay), stays. The bounds are
        // scalar subqueries, so the walk of the primary key starts and stops at them (joined in, they were a filter over
        // every row of the table: 191 ms on 177,000 rows to delete one); the rows go by their ids (IN (…) hashed the
        // batch and read the whole table for it).
        Database.ExecuteSqlAsync($"""
            WITH cutoff AS MATERIALIZED (
                SELECT at, (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') || repeat('0', 20))::uuid AS id
                FROM (SELECT now() - {retention}::interval AS at) AS t)
            DELETE FROM "OutboxMessages"
            WHERE "Id" = ANY (ARRAY(
                SELECT o."Id" FROM "OutboxMessages" AS o
                WHERE o."Id" < (SELECT id FROM cutoff) AND o."SentAt" < (SELECT at FROM cutoff)
                ORDER BY o."Id"
                LIMIT {batchSize}))
            """, cancellationToken);

    public Task<int> MarkOutboxSentAsync(IReadOnlyCollection<Guid> ids, DateTimeOffset sentAt, CancellationToken cancellationToken)
    {
        // Inside a caller's transaction the setting would last until that transaction ends: all of it would commit
        // without waiting for the disk.
        if (Database.CurrentTransaction is not null)
        {
            throw new InvalidOperationException("Sent marks are written in their own transaction, never inside another.");
        }

        var rows = ids.ToArray();

        // What OutboxMessage.MarkSent sets, for many rows at once. set_config(…, true) lasts until this statement's own
        // transaction ends, and the commit reads it; the pooled session keeps its own setting.
        return Database.ExecuteSqlAsync($"""
                WITH no_flush_wait AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))
                UPDATE "OutboxMessages" AS o
                SET "SentAt" = {sentAt}, "PublishAttempts" = o."PublishAttempts" + 1, "LastError" = NULL, "ClaimedUntil" = NULL
                FROM no_flush_wait
                WHERE o."Id" = ANY({rows}) AND o."SentAt" IS NULL
                """, cancellationToken);
    }

    /// <summary>
    /// The names of each enum column of <c>Tasks</c> that this build reads (<see cref="StoredEnums"/>). The dispatcher's
    /// steps take only rows that hold them (their statuses they name themselves): a row a later version wrote, before a
    /// rollback, with a type or priority this build does not know would fail the step's query before any task could be
    /// named, and the step would move nothing, round after round. Such rows are left as they are, for the build that
    /// wrote them. <c>StoredValuesTests</c> checks that these are every enum column of <c>Tasks</c> besides the
    /// status, and <c>RefusedTaskTests</c> that each step's query filters on each of them.
    /// </summary>
    public static class Readable
    {
        public static readonly string[] Domains = StoredEnums.Names<DomainType>();
        public static readonly string[] Capabilities = StoredEnums.Names<CapabilityType>();
        public static readonly string[] Executions = StoredEnums.Names<ExecutionType>();
        public static readonly string[] Priorities = StoredEnums.Names<Priority>();

        /// <summary>The columns the steps filter on besides <c>Status</c>.</summary>
        public static readonly string[] Columns = ["DomainType", "CapabilityType", "TaskExecutionType", "Priority"];
    }

    public Task<List<AiTask>> LockExpiredLeasesAsync(int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken) =>
        Tasks.FromSql($"""
                SELECT * FROM "Tasks"
                WHERE "Status" IN ('Reserved', 'Running') AND "LockedUntil" <= now() AND "Id" <> ALL ({leftOut.ToArray()})
                    AND "DomainType" = ANY ({Readable.Domains}) AND "CapabilityType" = ANY ({Readable.Capabilities}) AND "TaskExecutionType" = ANY ({Readable.Executions}) AND "Priority" = ANY ({Readable.Priorities})
                ORDER BY "LockedUntil"
                LIMIT {batchSize}
                FOR UPDATE SKIP LOCKED
                """)
            .ToListAsync(cancellationToken);

    public Task<List<AiTask>> FindDueTasksAsync(DateTimeOffset now, int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken) =>
        Tasks.FromSql($"""
                SELECT * FROM "Tasks"
                WHERE "Status" IN ('Created', 'Failed') AND ("ScheduledAt" IS NULL OR "ScheduledAt" <= {now}) AND "Id" <> ALL ({leftOut.ToArray()})
                    AND "DomainType" = ANY ({Readable.Domains}) AND "CapabilityType" = ANY ({Readable.Capabilities}) AND "TaskExecutionType" = ANY ({Readable.Executions}) AND "Priority" = ANY ({Readable.Priorities})
                ORDER BY "ScheduledAt"
                LIMIT {batchSize}
                """)
            .ToListAsync(cancellationToken);

    public async Task<bool> TryLockStepAsync(string step, CancellationToken cancellationToken)
    {
        if (Database.CurrentTransaction is null)
        {
            throw new InvalidOperationException("A step's lock lasts for a transaction: begin one first.");
        }

        return await Database.SqlQuery<bool>($"""SELECT pg_try_advisory_xact_lock(hashtextextended({"dispatcher step: " + step}, 0)) AS "Value" """)
            .SingleAsync(cancellationToken);
    }

    public Task<List<AiTask>> LockStaleQueuedAsync(DateTimeOffset staleBefore, int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken) =>
        Tasks.FromSql($"""
                SELECT * FROM "Tasks" t
                WHERE t."Status" = 'Queued' AND t."UpdatedAt" <= {staleBefore} AND t."Id" <> ALL ({leftOut.ToArray()})
                    AND t."DomainType" = ANY ({Readable.Domains}) AND t."CapabilityType" = ANY ({Readable.Capabilities}) AND t."TaskExecutionType" = ANY ({Readable.Executions}) AND t."Priority" = ANY ({Readable.Priorities})
                    AND NOT EXISTS (SELECT 1 FROM "OutboxMessages" o WHERE o."SentAt" IS NULL AND o."TaskId" = t."Id" AND o."Destination" = {Queues.TasksQueued})
                ORDER BY t."UpdatedAt"
                LIMIT {batchSize}
                FOR UPDATE SKIP LOCKED
                """)
            .ToListAsync(cancellationToken);

    public override Task<int> SaveChangesAsync(CancellationToken cancellationToken = default)
    {
        StageTaskEvents();
        return SaveStagedAsync(cancellationToken);
    }

    /// <summary>EF's save of what <see cref="StageTaskEvents"/> prepared.</summary>
    private async Task<int> SaveStagedAsync(CancellationToken cancellationToken)
    {
        try
        {
            // Inside a transaction of BeginTransactionAsync the rows wait for its commit; EF's own transaction of this save
            // has committed when the save returns. (A transaction begun on Database directly is not watched: its rows are
            // handed out as saved, as before.)
            var adding = _open is not null && Database.CurrentTransaction == _open.Inner ? _eventMessages.FindAll(m => Entry(m).State == EntityState.Added) : [];

            // StageTaskEvents has just detected the changes; EF's save would compare every tracked property again. (A
            // SavingChanges handler or save interceptor that changed entities through their setters would have to detect
            // its own changes: none is registered.)
            var detecting = ChangeTracker.AutoDetectChangesEnabled;
            ChangeTracker.AutoDetectChangesEnabled = false;
            int saved;
            try
            {
                saved = await base.SaveChangesAsync(cancellationToken);
            }
            finally
            {
                ChangeTracker.AutoDetectChangesEnabled = detecting;
            }

            _awaitingCommit.UnionWith(adding);
            return saved;
        }
        catch (Exception ex) when (ex is not DbUpdateConcurrencyException && IsStaleTaskWrite(ex as Npgsql.PostgresException ?? ex.InnerException as Npgsql.PostgresException))
        {
            // Someone else changed the task since it was read: a conflict, as a failed version check is. Which the
            // database reports depends on the order of the batch and on whether the change it missed recorded an event;
            // the check at commit comes unwrapped when EF's own transaction commits it.
            throw new DbUpdateConcurrencyException("The task was changed since it was read: its next event is taken, or the task was not advanced to it.", ex);
        }
    }

    /// <summary>
    /// Turns the events the tracked tasks recorded into outbox rows (they are saved with the change itself) and bumps the
    /// version of each changed task; a later call finds nothing new.
    /// </summary>
    private void StageTaskEvents(string? traceParent = null)
    {
        // The one detection of a save's changes: what follows reads the entries as detected here (AsDetected), and
        // EF's own save skips its pass (SaveStagedAsync). Each pass compares every property of every tracked entity.
        if (ChangeTracker.AutoDetectChangesEnabled)
        {
            ChangeTracker.DetectChanges();
        }

        foreach (var entry in AsDetected(() => ChangeTracker.Entries<AiTask>().ToList()))
        {
            // The one step that turns recorded events into outbox rows, in the transaction of the change itself.
            var events = entry.Entity.TakeEvents();
            var version = entry.Property<int>(VersionProperty);
            if (entry.State == EntityState.Modified && version.CurrentValue == version.OriginalValue)
            {
                // Every change of a task records an event, whose sequence number the unique index makes the task's
                // real version: a change without one would leave a concurrent save from an older read unrefused.
                if (events.Count == 0)
                {
                    throw new InvalidOperationException($"Task {entry.Entity.Id} was changed without recording an event.");
                }

                version.CurrentValue = version.OriginalValue + 1;
            }

            if (events.Count == 0)
            {
                continue;
            }

            // The database checks at commit that the task reached the save's last event row (TaskEventGuard); a task
            // inserted by this save reaches all of them or the save fails whole. (The events of one save share a row
            // unless they are more than one row holds: TaskEventRows.)
            var messages = TaskEventMessages.For(entry.Entity, events, traceParent, version.CurrentValue).ToList();
            var lastEventRow = entry.State == EntityState.Added ? null : messages.FindLast(m => m.Destination == Queues.TaskEvents);
            foreach (var message in messages)
            {
                if (message.Destination == Queues.TaskEvents && message != lastEventRow)
                {
                    message.ImplyAdvance();
                }

                OutboxMessages.Add(message);
                _eventMessages.Add(message);
            }
        }
    }

    /// <summary>Reads the tracker as the last detection of changes left it, without detecting them again.</summary>
    private T AsDetected<T>(Func<T> read)
    {
        var detecting = ChangeTracker.AutoDetectChangesEnabled;
        ChangeTracker.AutoDetectChangesEnabled = false;
        try
        {
            return read();
        }
        finally
        {
            ChangeTracker.AutoDetectChangesEnabled = detecting;
        }
    }

    /// <summary>The event's number taken by the change this save missed, or the task not advanced to the event at commit (<see cref="TaskEventGuard"/>).</summary>
    private static bool IsStaleTaskWrite(Npgsql.PostgresException? error) =>
        error is { SqlState: Npgsql.PostgresErrorCodes.UniqueViolation, ConstraintName: TaskEventSequenceIndex } or { ConstraintName: TaskEventGuard.ConstraintName };

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(AppDbContext).Assembly);

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Enums are stored by the names the user chose, readable in SQL and stable if members are reordered; a name this build
        // does not know fails the read as unreadable (StoredEnumConverter), not as a database error.
        configurationBuilder.Properties<DomainType>().HaveConversion<StoredEnumConverter<DomainType>>().HaveMaxLength(40);
        configurationBuilder.Properties<CapabilityType>().HaveConversion<StoredEnumConverter<CapabilityType>>().HaveMaxLength(40);
        configurationBuilder.Properties<ExecutionType>().HaveConversion<StoredEnumConverter<ExecutionType>>().HaveMaxLength(40);
        configurationBuilder.Properties<Priority>().HaveConversion<StoredEnumConverter<Priority>>().HaveMaxLength(20);
        configurationBuilder.Properties<AiTaskStatus>().HaveConversion<StoredEnumConverter<AiTaskStatus>>().HaveMaxLength(20);
        configurationBuilder.Properties<AttemptStatus>().HaveConversion<StoredEnumConverter<AttemptStatus>>().HaveMaxLength(20);
        configurationBuilder.Properties<ArtifactKind>().HaveConversion<StoredEnumConverter<ArtifactKind>>().HaveMaxLength(20);
    }
}
