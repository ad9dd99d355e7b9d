using AssistenteIa.Application.Messaging;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace AssistenteIa.Application.Ports.Out;

/// <summary>The persistence port: the application queries and changes aggregates through it.</summary>
public interface IAppDbContext
{
    DbSet<AiTask> Tasks { get; }
    DbSet<TaskAttempt> TaskAttempts { get; }
    DbSet<TaskArtifact> TaskArtifacts { get; }
    DbSet<OutboxMessage> OutboxMessages { get; }
    DbSet<Tenant> Tenants { get; }
    DbSet<ApiKey> ApiKeys { get; }
    DbSet<WebhookEndpoint> WebhookEndpoints { get; }
    DbSet<WebhookDelivery> WebhookDeliveries { get; }
    DbSet<StoredFile> Files { get; }
    DbSet<DocumentChunk> DocumentChunks { get; }
    DbSet<SearchCollection> SearchCollections { get; }

    /// <summary>
    /// Saves the pending changes; in the same transaction, the events the tracked tasks recorded become outbox rows
    /// (see <c>TaskEventMessages</c>). Those rows are then handed out once by <see cref="TakeSavedOutboxMessages"/>.
    /// </summary>
    Task<int> SaveChangesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// <see cref="SaveChangesAsync"/> in one round trip: a few new or changed tasks, attempts, artifacts and outbox rows
    /// (a create, a claim, an outcome) go to the database as one batch without <c>BEGIN</c> and <c>COMMIT</c> around
    /// it. PostgreSQL runs a batch as one implicit transaction (a statement that fails rolls back the others), so the
    /// rows are stored together or not at all. The task's version check is the one condition a failed statement would
    /// not report (an update of no row is no error): a save made from a stale read is refused instead by the unique
    /// sequence number of the task's events, which the change it missed recorded first. Falls back to the ordinary save
    /// when anything else is pending, the save is larger, or a transaction is open.
    /// </summary>
    Task<int> SaveInOneRoundTripAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Turns the events the tracked tasks recorded so far into their outbox rows now, carrying
    /// <paramref name="traceParent"/> (the current trace when null; see <c>TaskEventMessages</c>); a save does the same
    /// for what is left. For a save that holds the tasks of several requests, each with its own request's trace.
    /// </summary>
    void StageEvents(string? traceParent);

    /// <summary>
    /// The outbox rows written from task events by the saves since the last call, for publishing right after commit;
    /// a task event the database stored already sent (no listener registered, see <c>TaskEventDemand</c>) is not among them,
    /// nor a row saved in a transaction of <see cref="BeginTransactionAsync"/> before it commits (one rolled back drops them).
    /// </summary>
    IReadOnlyList<OutboxMessage> TakeSavedOutboxMessages();

    /// <summary>
    /// The task (tracked) and the database's clock, read by one statement; null when there is no such task. A lease
    /// written from <see cref="ClaimCandidate.DatabaseNow"/> is judged by the clock the dispatcher judges it by, at no
    /// extra round trip.
    /// </summary>
    Task<ClaimCandidate?> FindTaskWithDatabaseClockAsync(Guid taskId, CancellationToken cancellationToken);

    /// <summary>
    /// The task as its work message carried it, tracked as stored at that message's row version, without reading it: a
    /// save of a change to it is refused, as one from a stale read is, when the task changed since.
    /// </summary>
    AiTask AttachQueued(QueuedTask queued);

    /// <summary>
    /// Deletes the attempt <paramref name="attemptNo"/> of a task and these outbox rows, if the task never reached that
    /// attempt: what a claim from a stale message stored when nothing refused its rows and only its task's update found no
    /// row (the version check of a save without a transaction fails after the commit). Returns the rows deleted.
    /// </summary>
    Task<int> UndoHalfClaimAsync(Guid taskId, int attemptNo, IReadOnlyCollection<Guid> outboxIds, CancellationToken cancellationToken);

    /// <summary>
    /// Extends, by the database's clock, the leases <paramref name="workerId"/> still holds for these attempts (the task
    /// leased by this worker and still at that attempt); returns those renewed (a missing one is a lease lost).
    /// Leaves the row version alone. A statement the database has not answered within <paramref name="answerWithin"/>
    /// is cancelled and the call fails.
    /// </summary>
    Task<IReadOnlyList<LeaseRenewal>> RenewLeasesAsync(
        string workerId, IReadOnlyCollection<AttemptLease> attempts, TimeSpan lease, TimeSpan answerWithin, CancellationToken cancellationToken);

    /// <summary>
    /// Records "published" on these outbox rows, leaving alone a row already marked (the relay published it meanwhile);
    /// returns how many it marked. Its commit does not wait for the disk, nor for a synchronous standby (asynchronous
    /// commit): a mark lost with a database crash (the last few hundred milliseconds of them) or a failover only means
    /// one more publish of that row by the relay, which consumers treat as a duplicate, so the flush is left to the
    /// next commit that needs one instead of costing one of its own. Never inside a transaction of the caller's (it
    /// throws): that whole transaction would commit the same way.
    /// </summary>
    Task<int> MarkOutboxSentAsync(IReadOnlyCollection<Guid> ids, DateTimeOffset sentAt, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes up to <paramref name="batchSize"/> outbox rows written and sent more than <paramref name="retention"/> ago
    /// by the database's clock, oldest first; returns how many. The rows are found by their primary key: ids are
    /// version 7 GUIDs, ordered by the time they were written, so the purge needs no index of its own on the time sent
    /// (one index fewer for every outbox row to write).
    /// </summary>
    Task<int> PurgeSentOutboxAsync(TimeSpan retention, int batchSize, CancellationToken cancellationToken);

    /// <summary>
    /// Reserved or running tasks whose lease ended by the database's clock, oldest first, locked
    /// (<c>FOR UPDATE SKIP LOCKED</c>) until the caller's transaction ends: a heartbeat racing the rescue waits,
    /// then finds the lease gone. The tasks in <paramref name="leftOut"/> are not taken.
    /// </summary>
    Task<List<AiTask>> LockExpiredLeasesAsync(int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken);

    /// <summary>
    /// Created or Failed tasks due by <paramref name="now"/> (not scheduled, or scheduled by then), soonest first, tracked
    /// and not locked: a save of them is checked by their row version and event numbers, so a cancel racing it is
    /// refused or refuses it, and neither waits for the other's lock. The tasks in <paramref name="leftOut"/> are not read.
    /// </summary>
    Task<List<AiTask>> FindDueTasksAsync(DateTimeOffset now, int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken);

    /// <summary>
    /// Takes <paramref name="step"/>'s lock for the caller's transaction (an advisory lock: every dispatcher instance
    /// asks for the same one); false when another instance holds it. Inside a transaction only.
    /// </summary>
    Task<bool> TryLockStepAsync(string step, CancellationToken cancellationToken);

    /// <summary>
    /// Tasks Queued since before <paramref name="staleBefore"/> whose work message the outbox has published (one still
    /// unsent is the relay's to publish), oldest first, locked (<c>FOR UPDATE SKIP LOCKED</c>) until the caller's
    /// transaction ends, so a worker claiming one meanwhile waits instead of failing the batch. The tasks in
    /// <paramref name="leftOut"/> are not taken.
    /// </summary>
    Task<List<AiTask>> LockStaleQueuedAsync(DateTimeOffset staleBefore, int batchSize, IReadOnlyCollection<Guid> leftOut, CancellationToken cancellationToken);

    /// <summary>
    /// Stores these new deliveries in one statement, except one for an endpoint and event that already has its delivery
    /// (a redelivered event, or one handled twice at once), which is left as it is; returns the endpoints given one.
    /// A delivery for an endpoint deleted meanwhile is refused by the database (a foreign-key violation) and the whole
    /// statement with it.
    /// </summary>
    Task<IReadOnlyList<Guid>> AddMissingDeliveriesAsync(IReadOnlyList<WebhookDelivery> deliveries, CancellationToken cancellationToken);

    /// <summary>A transaction a failed save ends: the caller disposes it (rolling back) and never saves in it again.</summary>
    Task<IDbContextTransaction> BeginTransactionAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/> in a transaction that first waits for the advisory lock named
    /// <paramref name="lockName"/> (held until it ends), then commits: for a check and the write it guards (a count
    /// against a quota, then the insert), which two requests must not both pass. Where this context retries transient
    /// failures, the whole of it runs again (entities added again are only added once), after asking
    /// <paramref name="committed"/> whether a commit whose answer was lost went through.
    /// </summary>
    Task InLockedTransactionAsync(string lockName, Func<CancellationToken, Task> work, Func<CancellationToken, Task<bool>> committed, CancellationToken cancellationToken);

    /// <summary>Forgets every tracked entity (after a failed save, before reading fresh state).</summary>
    void ClearTracking();

    /// <summary>Stops tracking these rows: whatever changed on them is written elsewhere (<c>OutboxSentMarks</c>).</summary>
    void Forget(IEnumerable<OutboxMessage> messages);
}

public sealed record ClaimCandidate(AiTask Task, DateTimeOffset DatabaseNow);

public sealed record AttemptLease(Guid TaskId, int AttemptNo);

public sealed record LeaseRenewal(Guid TaskId, int AttemptNo, bool CancelRequested);
