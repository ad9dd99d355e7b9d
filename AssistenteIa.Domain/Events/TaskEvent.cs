using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Domain.Events;

/// <summary>
/// Something that happened to a task, recorded by the aggregate itself. <see cref="Sequence"/> counts the task's
/// events from 1, so a consumer can order them and notice a gap; <see cref="From"/> is null for <c>created</c>.
/// </summary>
public sealed record TaskEvent(
    Guid TaskId,
    string TenantId,
    string Name,
    AiTaskStatus? From,
    AiTaskStatus Status,
    long Sequence,
    int AttemptNo,
    DateTimeOffset At);

/// <summary>The event names (routing keys are <c>task.&lt;name&gt;</c> on the <c>task-events</c> exchange).</summary>
public static class TaskEventNames
{
    public const string Created = "created";
    public const string Queued = "queued";
    public const string Reserved = "reserved";
    public const string Started = "started";
    public const string Succeeded = "succeeded";

    /// <summary>An attempt failed and a retry is scheduled.</summary>
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string DeadLettered = "deadlettered";
    public const string CancelRequested = "cancel_requested";

    /// <summary>A task still queued whose message was announced again (it may have been lost from the broker).</summary>
    public const string Requeued = "requeued";

    /// <summary>Every event name, in lifecycle order.</summary>
    public static readonly IReadOnlyList<string> All = [Created, Queued, Reserved, Started, Succeeded, Failed, Cancelled, DeadLettered, CancelRequested, Requeued];

    /// <summary>The event a move into <paramref name="status"/> records.</summary>
    public static string For(AiTaskStatus status) => status switch
    {
        AiTaskStatus.Created => Created,
        AiTaskStatus.Queued => Queued,
        AiTaskStatus.Reserved => Reserved,
        AiTaskStatus.Running => Started,
        AiTaskStatus.Succeeded => Succeeded,
        AiTaskStatus.Failed => Failed,
        AiTaskStatus.Cancelled => Cancelled,
        AiTaskStatus.DeadLetter => DeadLettered,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}
