using System.Text.Json;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Ports.Out;

/// <summary>Runs one attempt of a task through the AI model or local skill for its capability.</summary>
public interface ITaskExecutor
{
    Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken);
}

/// <summary>
/// What runs the tasks of one capability: its own reading of the payload, its own outputs and its own unit of cost.
/// One skill per capability, chosen by <see cref="Tasks.Capabilities.SkillRegistry"/>.
/// </summary>
public interface ITaskSkill
{
    CapabilityType Capability { get; }

    Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken);
}

public sealed record ExecutionRequest(Guid TaskId, string TenantId, int AttemptNo, TaskType Type, TaskPayload Payload);

/// <summary>The outputs of a successful attempt, in the order they are stored, and what it consumed.</summary>
public sealed record ExecutionResult(IReadOnlyList<ArtifactOutput> Artifacts, ExecutionUsage Usage)
{
    /// <summary>A single text answer.</summary>
    public ExecutionResult(string output, ExecutionUsage usage)
        : this([ArtifactOutput.Text(output)], usage)
    {
    }

    /// <summary>
    /// Writes of the skill that must exist only if the attempt's success is recorded (an embedded document's chunks):
    /// run in the transaction that stores the outcome, so an attempt taken over, cancelled or failed leaves nothing.
    /// </summary>
    public Func<CancellationToken, Task>? CommitWithOutcome { get; init; }

    /// <summary>The first text output (the answer, for the chat skills).</summary>
    public string Output => Artifacts.FirstOrDefault(a => a.Kind == ArtifactKind.Text)?.Content ?? "";
}

/// <summary>One output of an attempt: inline text or JSON, a file to store, or a link.</summary>
public sealed record ArtifactOutput(ArtifactKind Kind, string? Name, string MediaType, string? Content = null, byte[]? Bytes = null, string? Uri = null)
{
    public const string JsonMediaType = "application/json";

    public static ArtifactOutput Text(string content, string? name = null) => new(ArtifactKind.Text, name, "text/plain", content);

    public static ArtifactOutput Json<T>(string name, T value) =>
        new(ArtifactKind.Text, name, JsonMediaType, JsonSerializer.Serialize(value, JsonDefaults.Options));

    /// <summary>A file the attempt made; stored in <c>Files</c> with the outcome, the artifact points at it.</summary>
    public static ArtifactOutput File(string name, string mediaType, byte[] bytes) => new(ArtifactKind.File, name, mediaType, Bytes: bytes);
}

/// <summary>
/// What one attempt consumed: model and tokens for the chat skills; for skills priced otherwise, <see cref="Units"/>
/// of <see cref="Unit"/> (images, pages, calls). Prices are applied by the application from configuration.
/// </summary>
public sealed record ExecutionUsage(string Model, long TokensIn, long TokensOut, long Units = 0, string? Unit = null)
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
