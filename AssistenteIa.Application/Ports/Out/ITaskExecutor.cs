using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Ports.Out;

/// <summary>Runs one attempt of a task through the AI model or local skill for its capability.</summary>
public interface ITaskExecutor
{
    Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken);
}

public sealed record ExecutionRequest(Guid TaskId, int AttemptNo, TaskType Type, TaskPayload Payload);

public sealed record ExecutionResult(string Output, ExecutionUsage Usage);

/// <summary>Model and token counts of one call; prices are applied by the application from configuration.</summary>
public sealed record ExecutionUsage(string Model, long TokensIn, long TokensOut)
{
    public static readonly ExecutionUsage Empty = new("none", 0, 0);
}

/// <summary>A failed attempt, already classified; <see cref="Usage"/> is what it consumed before failing.</summary>
public sealed class TaskExecutionException(ErrorKind kind, string code, string message, ExecutionUsage? usage = null, Exception? inner = null)
    : Exception(message, inner)
{
    public ErrorKind Kind { get; } = kind;
    public string Code { get; } = code;
    public ExecutionUsage Usage { get; } = usage ?? ExecutionUsage.Empty;
}

/// <summary>The attempt was cancelled (client request); <see cref="Usage"/> is what it consumed until then.</summary>
public sealed class AttemptCancelledException(ExecutionUsage usage, CancellationToken token)
    : OperationCanceledException("The attempt was cancelled.", null, token)
{
    public ExecutionUsage Usage { get; } = usage;
}
