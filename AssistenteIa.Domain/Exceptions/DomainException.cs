using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Domain.Exceptions;

/// <summary>A business rule was broken; the message is safe to show to a client.</summary>
public class DomainException(string message) : Exception(message);

public sealed class InvalidTransitionException(AiTaskStatusPair pair)
    : DomainException($"A task cannot go from {pair.From} to {pair.To}.")
{
    public AiTaskStatusPair Transition { get; } = pair;
}

public readonly record struct AiTaskStatusPair(AiTaskStatus From, AiTaskStatus To);

public sealed class TaskAlreadyFinishedException(Guid taskId, AiTaskStatus status)
    : DomainException($"Task {taskId} is already {status} and cannot be cancelled.")
{
    public AiTaskStatus Status { get; } = status;
}
