using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks.Commands.CreateTask;

public sealed record CreateTaskCommand(
    string TenantId,
    TaskType Type,
    Priority Priority,
    TaskPayload Payload,
    int? MaxAttempts,
    DateTimeOffset? ScheduledAt,
    string? IdempotencyKey);

/// <param name="Replayed">True when an earlier request with the same Idempotency-Key created the task.</param>
public sealed record CreateTaskResult(TaskDto Task, bool Replayed);
