using AssistenteIa.Application;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.CreateTask;
using AssistenteIa.Application.Tasks.GetTask;
using AssistenteIaApi.Contracts;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace AssistenteIaApi.Controllers;

/// <summary>REST v1 for tasks: binds HTTP to the use cases and back, nothing more.</summary>
[ApiController]
[Authorize]
[Route("api/v1/tasks")]
[Produces("application/json")]
public sealed class TasksController : ControllerBase
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>Creates a task and queues it (or schedules it for <c>scheduledAt</c>).</summary>
    /// <remarks>Send an Idempotency-Key to make retries safe: the same key and body return the same task.</remarks>
    [HttpPost]
    [Consumes("application/json")]
    [ProducesResponseType<TaskDto>(StatusCodes.Status202Accepted)]
    [ProducesResponseType<ValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status413PayloadTooLarge, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status422UnprocessableEntity, "application/problem+json")]
    public async Task<IActionResult> Create(
        [FromBody] CreateTaskRequest request,
        [FromHeader(Name = IdempotencyKeyHeader)] string? idempotencyKey,
        [FromServices] CreateTaskHandler handler,
        CancellationToken cancellationToken)
    {
        var result = await handler.HandleAsync(request.ToCommand(User.TenantId(), idempotencyKey), cancellationToken);
        return Accepted($"/api/v1/tasks/{result.Task.Id}", result.Task);
    }

    /// <summary>One task with its status, attempt count, last error and timestamps.</summary>
    [HttpGet("{id}")]
    [ProducesResponseType<TaskDto>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public async Task<TaskDto> Get(string id, [FromServices] GetTaskHandler handler, CancellationToken cancellationToken) =>
        await handler.GetAsync(User.TenantId(), ParseId(id), cancellationToken);

    /// <summary>Every attempt of the task with model, tokens, cost, latency and error.</summary>
    [HttpGet("{id}/attempts")]
    [ProducesResponseType<IReadOnlyList<TaskAttemptDto>>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public async Task<IReadOnlyList<TaskAttemptDto>> Attempts(string id, [FromServices] GetTaskHandler handler, CancellationToken cancellationToken) =>
        await handler.GetAttemptsAsync(User.TenantId(), ParseId(id), cancellationToken);

    /// <summary>The task's outputs.</summary>
    [HttpGet("{id}/artifacts")]
    [ProducesResponseType<IReadOnlyList<TaskArtifactDto>>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public async Task<IReadOnlyList<TaskArtifactDto>> Artifacts(string id, [FromServices] GetTaskHandler handler, CancellationToken cancellationToken) =>
        await handler.GetArtifactsAsync(User.TenantId(), ParseId(id), cancellationToken);

    /// <summary>A malformed id names no task: 404, like an unknown one.</summary>
    private static Guid ParseId(string id) =>
        Guid.TryParse(id, out var guid) ? guid : throw new NotFoundException($"Task {id} was not found.");
}
