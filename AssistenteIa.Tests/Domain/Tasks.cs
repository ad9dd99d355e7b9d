using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Exceptions;
using AssistenteIa.Domain.Policies;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Domain;

/// <summary>Builds tasks in a given state through the aggregate's own operations.</summary>
internal static class Tasks
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    public static readonly RetryPolicy Policy = new(TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(1));

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<AiTask, TaskAttempt> CurrentAttempts = [];

    /// <summary>The attempt opened by the last <see cref="Drive"/> to Running.</summary>
    public static TaskAttempt CurrentAttempt(AiTask task) => CurrentAttempts.TryGetValue(task, out var attempt) ? attempt : throw new InvalidOperationException("The task never ran.");

    public static AiTask New(int maxAttempts = 3) => AiTask.Create(
        Guid.CreateVersion7(),
        "tenant-a",
        new TaskType(DomainType.DocumentProcessing, CapabilityType.LLM_Generation, ExecutionType.Async),
        Priority.Normal,
        """{"prompt":"p"}""",
        maxAttempts,
        null,
        null,
        "corr",
        null,
        Now);

    public static AiTask In(AiTaskStatus status)
    {
        var task = New();
        var path = status switch
        {
            AiTaskStatus.Created => [],
            AiTaskStatus.Queued => [AiTaskStatus.Queued],
            AiTaskStatus.Reserved => [AiTaskStatus.Queued, AiTaskStatus.Reserved],
            AiTaskStatus.Running => [AiTaskStatus.Queued, AiTaskStatus.Reserved, AiTaskStatus.Running],
            AiTaskStatus.Succeeded => [AiTaskStatus.Queued, AiTaskStatus.Reserved, AiTaskStatus.Running, AiTaskStatus.Succeeded],
            AiTaskStatus.Failed => [AiTaskStatus.Queued, AiTaskStatus.Reserved, AiTaskStatus.Running, AiTaskStatus.Failed],
            AiTaskStatus.Cancelled => [AiTaskStatus.Cancelled],
            AiTaskStatus.DeadLetter => new[] { AiTaskStatus.Queued, AiTaskStatus.Reserved, AiTaskStatus.Running, AiTaskStatus.DeadLetter },
            _ => throw new ArgumentOutOfRangeException(nameof(status)),
        };
        foreach (var step in path)
        {
            Drive(task, step);
        }

        return task;
    }

    /// <summary>Asks the aggregate to move to <paramref name="to"/> with the operation that means that move.</summary>
    public static void Drive(AiTask task, AiTaskStatus to)
    {
        switch (to)
        {
            case AiTaskStatus.Queued when task.Status == AiTaskStatus.Reserved:
                task.ReleaseReservation(Now);
                break;
            case AiTaskStatus.Queued when task.Status == AiTaskStatus.Running:
                task.InterruptAttempt(CurrentAttempt(task), AttemptUsage.None, "worker stopping", Now);
                break;
            case AiTaskStatus.Queued:
                task.Enqueue(Now);
                break;
            case AiTaskStatus.Reserved:
                task.Reserve("worker-1", Now.AddSeconds(30), Now);
                break;
            case AiTaskStatus.Running:
                CurrentAttempts.AddOrUpdate(task, task.Start(Now));
                break;
            case AiTaskStatus.Succeeded:
                task.Succeed(Now);
                break;
            case AiTaskStatus.Failed:
                if (task.Status != AiTaskStatus.Running)
                {
                    throw new InvalidTransitionException(new AiTaskStatusPair(task.Status, to));
                }

                task.Fail("boom", ErrorKind.Transient, Policy, 0.5, Now);
                break;
            case AiTaskStatus.Cancelled:
                task.Cancel(Now);
                break;
            case AiTaskStatus.DeadLetter:
                if (task.Status is not (AiTaskStatus.Running or AiTaskStatus.Failed))
                {
                    throw new InvalidTransitionException(new AiTaskStatusPair(task.Status, to));
                }

                if (task.Status == AiTaskStatus.Failed)
                {
                    task.DeadLetter("given up", Now);
                }
                else
                {
                    task.Fail("bad payload", ErrorKind.Permanent, Policy, 0.5, Now);
                }

                break;
            case AiTaskStatus.Created:
                throw new InvalidTransitionException(new AiTaskStatusPair(task.Status, to));
        }
    }
}
