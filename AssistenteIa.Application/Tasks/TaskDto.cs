using System.Linq.Expressions;
using System.Text.Json;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks;

public sealed record TaskTypeDto(DomainType Domain, CapabilityType Capability, ExecutionType Execution);

/// <summary>The task as the REST contract shows it. <see cref="Payload"/> is null in list pages unless asked for.</summary>
/// <param name="Status">
/// Created, Queued, Reserved, Running, Succeeded, Failed, Cancelled or DeadLetter. <c>Failed</c> means the last attempt
/// failed and another is scheduled at <paramref name="RetryAt"/>; a task that failed for good is <c>DeadLetter</c>.
/// </param>
/// <param name="RetryAt">When the next attempt of a <c>Failed</c> task runs; null in every other status.</param>
public sealed record TaskDto(
    Guid Id,
    TaskTypeDto Type,
    Priority Priority,
    AiTaskStatus Status,
    JsonElement? Payload,
    int AttemptCount,
    int MaxAttempts,
    string? LastError,
    DateTimeOffset? ScheduledAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string CorrelationId,
    bool CancelRequested,
    DateTimeOffset? RetryAt)
{
    /// <summary>Everything but the payload, read straight from the columns (the payload may be 256 KiB a row).</summary>
    public static readonly Expression<Func<AiTask, TaskDto>> SummaryProjection = task => new TaskDto(
        task.Id,
        new TaskTypeDto(task.DomainType, task.CapabilityType, task.TaskExecutionType),
        task.Priority,
        task.Status,
        null,
        task.AttemptCount,
        task.MaxAttempts,
        task.LastError,
        task.ScheduledAt,
        task.CreatedAt,
        task.UpdatedAt,
        task.CorrelationId,
        task.CancelRequested,
        task.Status == AiTaskStatus.Failed ? task.ScheduledAt : null);

    private static readonly Func<AiTask, TaskDto> Summary = SummaryProjection.Compile();

    /// <summary>The task without its payload, as list pages and task events carry it.</summary>
    public static TaskDto Summarize(AiTask task) => Summary(task);

    public static TaskDto From(AiTask task)
    {
        using var payload = JsonDocument.Parse(task.PayloadJson);
        return Summary(task) with { Payload = payload.RootElement.Clone() };
    }
}

public sealed record TaskAttemptDto(
    int AttemptNo,
    AttemptStatus Status,
    DateTimeOffset StartedAt,
    DateTimeOffset? EndedAt,
    string? Model,
    long TokensIn,
    long TokensOut,
    decimal Cost,
    long LatencyMs,
    string? ErrorCode,
    string? ErrorDetail,
    DateTimeOffset? NextAttemptAt,
    long Units,
    string? Unit);

/// <param name="Name">What the output is among the attempt's outputs (answer, classification, steps, text, detections…).</param>
/// <param name="MediaType">text/plain, application/json, or the file's media type.</param>
/// <param name="Uri">For a file, <c>/api/v1/files/{id}</c>.</param>
public sealed record TaskArtifactDto(Guid Id, ArtifactKind Kind, string? Name, string? MediaType, string? Content, string? Uri, DateTimeOffset CreatedAt);
