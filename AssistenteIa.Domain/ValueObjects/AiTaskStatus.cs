using AssistenteIa.Domain.Entities;

namespace AssistenteIa.Domain.ValueObjects;

public enum AiTaskStatus
{
    Created,
    Queued,
    Reserved,
    Running,
    Succeeded,

    /// <summary>The last attempt failed and another one is scheduled at <see cref="AiTask.ScheduledAt"/>.</summary>
    Failed,
    Cancelled,

    /// <summary>Terminal: retries exhausted or a permanent error.</summary>
    DeadLetter,
}

/// <summary>The task state machine: the only place that says which transitions exist.</summary>
public static class TaskStateMachine
{
    private static readonly Dictionary<AiTaskStatus, AiTaskStatus[]> Allowed = new()
    {
        [AiTaskStatus.Created] = [AiTaskStatus.Queued, AiTaskStatus.Cancelled],
        [AiTaskStatus.Queued] = [AiTaskStatus.Reserved, AiTaskStatus.Cancelled],
        // A reservation whose lease expires before the run starts goes back to the queue.
        [AiTaskStatus.Reserved] = [AiTaskStatus.Running, AiTaskStatus.Queued, AiTaskStatus.Cancelled],
        // Running → Queued: the worker stopped gracefully and gave the task back without spending an attempt.
        [AiTaskStatus.Running] = [AiTaskStatus.Succeeded, AiTaskStatus.Failed, AiTaskStatus.Cancelled, AiTaskStatus.DeadLetter, AiTaskStatus.Queued],
        [AiTaskStatus.Failed] = [AiTaskStatus.Queued, AiTaskStatus.Cancelled, AiTaskStatus.DeadLetter],
        [AiTaskStatus.Succeeded] = [],
        [AiTaskStatus.Cancelled] = [],
        [AiTaskStatus.DeadLetter] = [],
    };

    public static bool CanTransition(AiTaskStatus from, AiTaskStatus to) => Allowed[from].Contains(to);

    public static bool IsTerminal(AiTaskStatus status) => Allowed[status].Length == 0;
}
