using AssistenteIa.Domain.Events;
using AssistenteIa.Domain.Exceptions;
using AssistenteIa.Domain.Policies;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Domain.Entities;

/// <summary>
/// The unit of work (table <c>Tasks</c>). Named AiTask so it never collides with
/// <see cref="System.Threading.Tasks.Task"/>. Every status change goes through <see cref="MoveTo"/>.
/// </summary>
public sealed class AiTask
{
    public const int MaxAttemptsLimit = 10;
    public const int MaxErrorLength = 4000;

    private readonly List<TaskEvent> _pendingEvents = [];

    private AiTask()
    {
    }

    public Guid Id { get; private set; }
    public string TenantId { get; private set; } = "";
    public DomainType DomainType { get; private set; }
    public CapabilityType CapabilityType { get; private set; }
    public ExecutionType TaskExecutionType { get; private set; }
    public Priority Priority { get; private set; }
    public AiTaskStatus Status { get; private set; }
    public string PayloadJson { get; private set; } = "{}";
    public string? IdempotencyKey { get; private set; }

    /// <summary>Fingerprint of the creating request, so a replayed Idempotency-Key with another body is refused.</summary>
    public string? RequestHash { get; private set; }
    public string CorrelationId { get; private set; } = "";
    public DateTimeOffset? ScheduledAt { get; private set; }
    public DateTimeOffset? LockedUntil { get; private set; }
    public string? LockedBy { get; private set; }
    public int MaxAttempts { get; private set; }
    public int AttemptCount { get; private set; }

    /// <summary>Attempts stopped by a graceful shutdown of their worker: they do not count against <see cref="MaxAttempts"/>.</summary>
    public int InterruptedAttempts { get; private set; }
    public string? LastError { get; private set; }
    public bool CancelRequested { get; private set; }
    public DateTimeOffset CreatedAt { get; private set; }
    public DateTimeOffset UpdatedAt { get; private set; }

    /// <summary>How many events the task has recorded so far; the last one's <see cref="TaskEvent.Sequence"/>.</summary>
    public long EventSequence { get; private set; }

    /// <summary>Events recorded since the task was loaded or created and not yet taken by the save that stores them.</summary>
    public IReadOnlyList<TaskEvent> PendingEvents => _pendingEvents;

    public TaskType Type => new(DomainType, CapabilityType, TaskExecutionType);

    public bool IsTerminal => TaskStateMachine.IsTerminal(Status);

    public static AiTask Create(
        Guid id,
        string tenantId,
        TaskType type,
        Priority priority,
        string payloadJson,
        int maxAttempts,
        string? idempotencyKey,
        string? requestHash,
        string correlationId,
        DateTimeOffset? scheduledAt,
        DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(tenantId))
        {
            throw new DomainException("A task needs a tenant.");
        }

        if (maxAttempts is < 1 or > MaxAttemptsLimit)
        {
            throw new DomainException($"maxAttempts must be between 1 and {MaxAttemptsLimit}.");
        }

        var task = new AiTask
        {
            Id = id,
            TenantId = tenantId,
            DomainType = type.Domain,
            CapabilityType = type.Capability,
            TaskExecutionType = type.Execution,
            Priority = priority,
            Status = AiTaskStatus.Created,
            PayloadJson = payloadJson,
            MaxAttempts = maxAttempts,
            IdempotencyKey = idempotencyKey,
            RequestHash = requestHash,
            CorrelationId = correlationId,
            ScheduledAt = scheduledAt,
            CreatedAt = now,
            UpdatedAt = now,
        };
        task.Record(TaskEventNames.Created, from: null, now);
        return task;
    }

    /// <summary>
    /// Every stored field of the task as it is now, for a process that is sent the task whole (the work message) instead
    /// of reading it: <see cref="Restore"/> builds it back. Times are cut to the microsecond, as the database stores them.
    /// </summary>
    public AiTaskState ToState() => new(
        Id, TenantId, DomainType, CapabilityType, TaskExecutionType, Priority, Status, PayloadJson, IdempotencyKey, RequestHash, CorrelationId,
        Stored(ScheduledAt), Stored(LockedUntil), LockedBy, MaxAttempts, AttemptCount, InterruptedAttempts, LastError, CancelRequested,
        Stored(CreatedAt), Stored(UpdatedAt), EventSequence);

    /// <summary>The task as <see cref="ToState"/> described it, with no pending events.</summary>
    public static AiTask Restore(AiTaskState state) => new()
    {
        Id = state.Id,
        TenantId = state.TenantId,
        DomainType = state.DomainType,
        CapabilityType = state.CapabilityType,
        TaskExecutionType = state.TaskExecutionType,
        Priority = state.Priority,
        Status = state.Status,
        PayloadJson = state.PayloadJson,
        IdempotencyKey = state.IdempotencyKey,
        RequestHash = state.RequestHash,
        CorrelationId = state.CorrelationId,
        ScheduledAt = state.ScheduledAt,
        LockedUntil = state.LockedUntil,
        LockedBy = state.LockedBy,
        MaxAttempts = state.MaxAttempts,
        AttemptCount = state.AttemptCount,
        InterruptedAttempts = state.InterruptedAttempts,
        LastError = state.LastError,
        CancelRequested = state.CancelRequested,
        CreatedAt = state.CreatedAt,
        UpdatedAt = state.UpdatedAt,
        EventSequence = state.EventSequence,
    };

    private static DateTimeOffset Stored(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);

    private static DateTimeOffset? Stored(DateTimeOffset? time) => time is { } t ? Stored(t) : null;

    /// <summary>Hands the pending events to the save that turns them into outbox rows.</summary>
    public IReadOnlyList<TaskEvent> TakeEvents()
    {
        var events = _pendingEvents.ToList();
        _pendingEvents.Clear();
        return events;
    }

    /// <summary>True when the task waits for a time in the future before it may be queued.</summary>
    public bool IsDeferred(DateTimeOffset now) => ScheduledAt is { } at && at > now;

    /// <summary>Created → Queued (first run) or Failed → Queued (retry, once its backoff is over).</summary>
    public void Enqueue(DateTimeOffset now) => MoveTo(AiTaskStatus.Queued, now);

    /// <summary>Queued → Reserved: one worker holds the task until <paramref name="leaseUntil"/>.</summary>
    public void Reserve(string workerId, DateTimeOffset leaseUntil, DateTimeOffset now)
    {
        MoveTo(AiTaskStatus.Reserved, now);
        LockedBy = workerId;
        LockedUntil = leaseUntil;
    }

    /// <summary>Reserved → Running: opens the next attempt.</summary>
    public TaskAttempt Start(DateTimeOffset now)
    {
        if (!TaskStateMachine.CanTransition(Status, AiTaskStatus.Running))
        {
            throw new InvalidTransitionException(new AiTaskStatusPair(Status, AiTaskStatus.Running));
        }

        // Counted first, so the "started" event names the attempt it starts.
        AttemptCount++;
        MoveTo(AiTaskStatus.Running, now);
        return TaskAttempt.Open(Id, TenantId, AttemptCount, LockedBy, ScheduledAt is { } scheduled && scheduled > CreatedAt ? scheduled : CreatedAt, now);
    }

    public void Succeed(DateTimeOffset now)
    {
        MoveTo(AiTaskStatus.Succeeded, now);
        LastError = null;
        ReleaseLock();
    }

    /// <summary>
    /// Running → Failed (another attempt after the backoff) or DeadLetter (permanent error or no attempts left).
    /// </summary>
    public void Fail(string error, ErrorKind kind, RetryPolicy retryPolicy, double jitterSample, DateTimeOffset now)
    {
        if (Status != AiTaskStatus.Running)
        {
            // Only a running attempt can fail; a waiting retry is dead-lettered with DeadLetter().
            throw new InvalidTransitionException(new AiTaskStatusPair(Status, kind == ErrorKind.Transient ? AiTaskStatus.Failed : AiTaskStatus.DeadLetter));
        }

        LastError = Texts.Fit(error, MaxErrorLength);
        if (kind == ErrorKind.Transient && AttemptCount - InterruptedAttempts < MaxAttempts)
        {
            MoveTo(AiTaskStatus.Failed, now);
            ScheduledAt = now + retryPolicy.NextDelay(AttemptCount, jitterSample);
        }
        else
        {
            MoveTo(AiTaskStatus.DeadLetter, now);
        }

        ReleaseLock();
    }

    /// <summary>
    /// Closes the running attempt as failed and fails the task with it (retry or dead letter); the attempt
    /// records when the next one may start, so the backoff can be audited.
    /// </summary>
    public void FailAttempt(
        TaskAttempt attempt, AttemptUsage usage, string code, string detail, ErrorKind kind, RetryPolicy retryPolicy, double jitterSample, DateTimeOffset now)
    {
        EnsureCurrent(attempt);
        Fail($"{code}: {detail}", kind, retryPolicy, jitterSample, now);
        attempt.Close(AttemptStatus.Failed, usage, now, code, detail);
        attempt.NextAttemptAt = Status == AiTaskStatus.Failed ? ScheduledAt : null;
    }

    /// <summary>Failed → DeadLetter: gives up on a task waiting for its retry (for example, an operator's decision).</summary>
    public void DeadLetter(string reason, DateTimeOffset now)
    {
        if (Status != AiTaskStatus.Failed)
        {
            throw new InvalidTransitionException(new AiTaskStatusPair(Status, AiTaskStatus.DeadLetter));
        }

        MoveTo(AiTaskStatus.DeadLetter, now);
        LastError = Texts.Fit(reason, MaxErrorLength);
        ReleaseLock();
    }

    /// <summary>
    /// Running → Queued: the worker stopped gracefully during the attempt (a deploy, a scale-in). The attempt is
    /// closed as interrupted and does not count against <see cref="MaxAttempts"/>: the task did nothing wrong.
    /// </summary>
    /// <remarks>A task whose cancel was requested meanwhile is cancelled instead: nobody should pay for another run.</remarks>
    public void InterruptAttempt(TaskAttempt attempt, AttemptUsage usage, string detail, DateTimeOffset now)
    {
        EnsureCurrent(attempt);
        if (CancelRequested)
        {
            attempt.Close(AttemptStatus.Cancelled, usage, now, "Cancelled", "Cancelled at the client's request while the worker stopped.");
            Cancel(now);
            return;
        }

        MoveTo(AiTaskStatus.Queued, now);
        attempt.Close(AttemptStatus.Interrupted, usage, now, "WorkerStopping", detail);
        InterruptedAttempts++;
        ReleaseLock();
    }

    /// <summary>
    /// Marks a queued task as announced again (its message was lost from the broker); the caller writes the
    /// new <c>TaskQueued</c> message in the same transaction.
    /// </summary>
    public void Requeue(DateTimeOffset now)
    {
        if (Status != AiTaskStatus.Queued)
        {
            throw new InvalidTransitionException(new AiTaskStatusPair(Status, AiTaskStatus.Queued));
        }

        UpdatedAt = now;
        Record(TaskEventNames.Requeued, Status, now);
    }

    /// <summary>A reservation that lapsed before the run started goes back to the queue without spending an attempt.</summary>
    public void ReleaseReservation(DateTimeOffset now)
    {
        if (CancelRequested)
        {
            Cancel(now);
            return;
        }

        MoveTo(AiTaskStatus.Queued, now);
        ReleaseLock();
    }

    /// <summary>
    /// Best-effort cancellation asked by a client: a task that is not running is cancelled at once;
    /// a reserved or running one is only flagged, and its worker ends it.
    /// </summary>
    public CancelOutcome RequestCancel(DateTimeOffset now)
    {
        switch (Status)
        {
            case AiTaskStatus.Created or AiTaskStatus.Queued or AiTaskStatus.Failed:
                Cancel(now);
                return CancelOutcome.Cancelled;
            case AiTaskStatus.Reserved or AiTaskStatus.Running:
                CancelRequested = true;
                UpdatedAt = now;
                Record(TaskEventNames.CancelRequested, Status, now);
                return CancelOutcome.Requested;
            default:
                throw new TaskAlreadyFinishedException(Id, Status);
        }
    }

    /// <summary>Ends the task as Cancelled (a worker honouring a cancel request, or a task not yet running).</summary>
    public void Cancel(DateTimeOffset now)
    {
        MoveTo(AiTaskStatus.Cancelled, now);
        CancelRequested = true;
        ReleaseLock();
    }

    private void EnsureCurrent(TaskAttempt attempt)
    {
        if (attempt.TaskId != Id || attempt.AttemptNo != AttemptCount)
        {
            throw new DomainException($"Attempt {attempt.AttemptNo} is not the current attempt of task {Id}.");
        }
    }

    private void ReleaseLock()
    {
        LockedBy = null;
        LockedUntil = null;
    }

    private void MoveTo(AiTaskStatus next, DateTimeOffset now)
    {
        if (!TaskStateMachine.CanTransition(Status, next))
        {
            throw new InvalidTransitionException(new AiTaskStatusPair(Status, next));
        }

        var from = Status;
        Status = next;
        UpdatedAt = now;
        Record(TaskEventNames.For(next), from, now);
    }

    private void Record(string name, AiTaskStatus? from, DateTimeOffset now)
    {
        EventSequence++;
        _pendingEvents.Add(new TaskEvent(Id, TenantId, name, from, Status, EventSequence, AttemptCount, now));
    }
}

public enum CancelOutcome
{
    Cancelled,
    Requested,
}

public enum ErrorKind
{
    Transient,
    Permanent,
}

/// <summary>Every stored field of an <see cref="AiTask"/> (<see cref="AiTask.ToState"/>, <see cref="AiTask.Restore"/>).</summary>
public sealed record AiTaskState(
    Guid Id,
    string TenantId,
    DomainType DomainType,
    CapabilityType CapabilityType,
    ExecutionType TaskExecutionType,
    Priority Priority,
    AiTaskStatus Status,
    string PayloadJson,
    string? IdempotencyKey,
    string? RequestHash,
    string CorrelationId,
    DateTimeOffset? ScheduledAt,
    DateTimeOffset? LockedUntil,
    string? LockedBy,
    int MaxAttempts,
    int AttemptCount,
    int InterruptedAttempts,
    string? LastError,
    bool CancelRequested,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    long EventSequence);
