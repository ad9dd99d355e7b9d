using System.ComponentModel.DataAnnotations;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Commands.CreateTask;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIaApi.Interfaces.Http.RequestModels;

/// <summary>Body of <c>POST /api/v1/tasks</c>.</summary>
public sealed record CreateTaskRequest
{
    /// <summary>What the task is: domain, capability and execution type.</summary>
    [Required]
    public TaskTypeRequest? Type { get; init; }

    /// <summary>Low, Normal (default), High or Critical; higher priorities are delivered first.</summary>
    public Priority Priority { get; init; } = Priority.Normal;

    /// <summary>The prompt, its context and optional model, parameters and simulation settings.</summary>
    [Required]
    public TaskPayload? Payload { get; init; }

    /// <summary>Attempts before the task is dead-lettered, 1 to 10 (default from configuration).</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>Run no earlier than this time (UTC offset required); null runs now.</summary>
    public DateTimeOffset? ScheduledAt { get; init; }

    public CreateTaskCommand ToCommand(string tenantId, string? idempotencyKey) => new(
        tenantId,
        new TaskType(Type!.Domain!.Value, Type.Capability!.Value, Type.Execution!.Value),
        Priority,
        Payload!,
        MaxAttempts,
        ScheduledAt?.ToUniversalTime(),
        idempotencyKey);
}

public sealed record TaskTypeRequest
{
    [Required]
    public DomainType? Domain { get; init; }

    [Required]
    public CapabilityType? Capability { get; init; }

    [Required]
    public ExecutionType? Execution { get; init; }
}
