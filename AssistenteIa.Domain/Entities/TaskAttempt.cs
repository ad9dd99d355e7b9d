using AssistenteIa.Domain.Exceptions;

namespace AssistenteIa.Domain.Entities;

public enum AttemptStatus
{
    Running,
    Succeeded,
    Failed,
    Cancelled,

    /// <summary>The worker stopped gracefully during the attempt; the task was queued again without counting it.</summary>
    Interrupted,
}

/// <summary>One execution of a task, kept for audit and cost (table <c>TaskAttempts</c>).</summary>
public sealed class TaskAttempt
{
    public const string LeaseExpiredCode = "LeaseExpired";
    public const int MaxModelLength = 200;
    public const int MaxErrorCodeLength = 100;
    public const int MaxErrorDetailLength = 4000;
    public const int MaxUnitLength = 20;

    private TaskAttempt()
    {
    }

    public Guid Id { get; private set; }
    public Guid TaskId { get; private set; }

    /// <summary>The task's tenant, kept on the attempt so a tenant's usage and latency are read without joining its tasks.</summary>
    public string TenantId { get; private set; } = "";
    public int AttemptNo { get; private set; }
    public string? WorkerId { get; private set; }
    public DateTimeOffset StartedAt { get; private set; }

    /// <summary>
    /// Since when the attempt could have started: the later of the task's creation and its schedule. For a first attempt
    /// that is when the task could first run (<c>StartedAt − DueAt</c> is its queue wait), kept here because a retry
    /// overwrites the task's schedule; for a retry, the end of its backoff.
    /// </summary>
    public DateTimeOffset DueAt { get; private set; }
    public DateTimeOffset? EndedAt { get; private set; }
    public AttemptStatus Status { get; private set; }
    public string? Model { get; private set; }
    public long TokensIn { get; private set; }
    public long TokensOut { get; private set; }
    public decimal Cost { get; private set; }

    /// <summary>What a skill that is not priced by tokens consumed, in its own unit (<see cref="Unit"/>: images, pages, calls…).</summary>
    public long Units { get; private set; }
    public string? Unit { get; private set; }

    /// <summary>The price of one unit in force when the attempt ran.</summary>
    public decimal UnitPrice { get; private set; }

    /// <summary>Prices (per million tokens) in force when the attempt ran, so its cost can be audited later.</summary>
    public decimal InputPricePerMillion { get; private set; }
    public decimal OutputPricePerMillion { get; private set; }
    public long LatencyMs { get; private set; }
    public string? ErrorCode { get; private set; }
    public string? ErrorDetail { get; private set; }

    /// <summary>When the failure of this attempt scheduled the next one (null when no retry follows).</summary>
    public DateTimeOffset? NextAttemptAt { get; internal set; }

    internal static TaskAttempt Open(Guid taskId, string tenantId, int attemptNo, string? workerId, DateTimeOffset dueAt, DateTimeOffset now) => new()
    {
        Id = Guid.CreateVersion7(now),
        TaskId = taskId,
        TenantId = tenantId,
        AttemptNo = attemptNo,
        WorkerId = workerId,
        StartedAt = now,
        DueAt = dueAt,
        Status = AttemptStatus.Running,
    };

    public void Close(AttemptStatus status, AttemptUsage usage, DateTimeOffset now, string? errorCode = null, string? errorDetail = null)
    {
        if (Status != AttemptStatus.Running)
        {
            throw new DomainException($"Attempt {AttemptNo} of task {TaskId} is already {Status}.");
        }

        if (status == AttemptStatus.Running)
        {
            throw new DomainException("An attempt is closed with a final status.");
        }

        Status = status;
        EndedAt = now;
        ApplyUsage(usage);
        LatencyMs = (long)Math.Max(0, (usage.Elapsed ?? (now - StartedAt)).TotalMilliseconds);
        ErrorCode = Texts.FitOrNull(errorCode, MaxErrorCodeLength);
        ErrorDetail = Texts.FitOrNull(errorDetail, MaxErrorDetailLength);
    }

    /// <summary>
    /// The dispatcher closed this attempt when its lease expired, knowing nothing of what it consumed; the worker,
    /// back from a pause, reports the real usage so the cost is not lost. Accepted once, only for such an attempt.
    /// </summary>
    public bool RecordUsageAfterTakeover(AttemptUsage usage)
    {
        if (Status == AttemptStatus.Running || ErrorCode != LeaseExpiredCode || Model is not null)
        {
            return false;
        }

        ApplyUsage(usage);
        return true;
    }

    private void ApplyUsage(AttemptUsage usage)
    {
        Model = Texts.FitOrNull(usage.Model, MaxModelLength);
        TokensIn = usage.TokensIn;
        TokensOut = usage.TokensOut;
        InputPricePerMillion = usage.InputPricePerMillion;
        OutputPricePerMillion = usage.OutputPricePerMillion;
        Units = usage.Units;
        Unit = Texts.FitOrNull(usage.Unit, MaxUnitLength);
        UnitPrice = usage.UnitPrice;
        Cost = usage.Cost;
    }
}

/// <summary>
/// What an attempt consumed. Cost = tokensIn × input price + tokensOut × output price (prices per million tokens)
/// + units × unit price (skills priced by image, page or call).
/// </summary>
public sealed record AttemptUsage(
    string? Model, long TokensIn, long TokensOut, decimal InputPricePerMillion, decimal OutputPricePerMillion, long Units = 0, string? Unit = null, decimal UnitPrice = 0)
{
    public static readonly AttemptUsage None = new(null, 0, 0, 0, 0);

    /// <summary>
    /// How long the attempt ran, by a monotonic clock, when whoever closes it timed it; otherwise its latency is the span
    /// between its start and end times, which a wall clock stepped meanwhile (NTP, a resumed VM) makes wrong.
    /// </summary>
    public TimeSpan? Elapsed { get; init; }

    public decimal Cost => (((TokensIn * InputPricePerMillion) + (TokensOut * OutputPricePerMillion)) / 1_000_000m) + (Units * UnitPrice);
}
