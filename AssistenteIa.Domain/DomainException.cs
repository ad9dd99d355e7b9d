namespace AssistenteIa.Domain;

/// <summary>A business rule was broken; the message is safe to show to a client.</summary>
public class DomainException(string message) : Exception(message);

public sealed class InvalidTransitionException(AiTaskStatusPair pair)
    : DomainException($"A task cannot go from {pair.From} to {pair.To}.")
{
    public AiTaskStatusPair Transition { get; } = pair;
}

public readonly record struct AiTaskStatusPair(Tasks.AiTaskStatus From, Tasks.AiTaskStatus To);
