using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Commands.CancelTask;
using AssistenteIa.Application.Tasks.Commands.CreateTask;
using AssistenteIa.Application.Tasks.Queries.GetTask;
using AssistenteIa.Application.Tasks.Queries.ListTasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIaApi.Interfaces.Http.RequestModels;
using AssistenteIaApi.OpenApi;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace AssistenteIaApi.Interfaces.Http.Controllers;

/// <summary>The tenant's tasks: submit one, list and read them with their attempts and outputs, cancel one.</summary>
// Binds HTTP to the use cases and back, nothing more.
[ApiController]
[Authorize]
[Route("api/v1/tasks")]
public sealed class TasksController : ControllerBase
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    public const string TotalCountHeader = "X-Total-Count";
    public const string TotalCountCappedHeader = "X-Total-Count-Capped";

    /// <summary>Creates a task and queues it (or schedules it for <c>scheduledAt</c>).</summary>
    /// <remarks>Send an Idempotency-Key to make retries safe: the same key and body return the same task.</remarks>
    [HttpPost(Name = "createTask")]
    [Consumes("application/json")]
    [ProducesResponseType<TaskDto>(StatusCodes.Status202Accepted, "application/json")]
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

    /// <summary>
    /// A page of the tenant's tasks, newest first, without payloads unless <c>includePayload=true</c>. The total is in
    /// the X-Total-Count header, counted up to 10000 (X-Total-Count-Capped: true when more match).
    /// </summary>
    /// <param name="status">Created, Queued, Reserved, Running, Succeeded, Failed, Cancelled or DeadLetter.</param>
    /// <param name="type">A DomainType or a CapabilityType name.</param>
    /// <param name="domain">A DomainType name.</param>
    /// <param name="capability">A CapabilityType name.</param>
    /// <param name="execution">An ExecutionType name.</param>
    /// <param name="page">From 1 (default 1).</param>
    /// <param name="pageSize">1 to 100 (default 20).</param>
    /// <param name="includePayload">true to include each task's payload (default false).</param>
    [HttpGet(Name = "listTasks")]
    [ProducesResponseType<IReadOnlyList<TaskDto>>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    public async Task<IReadOnlyList<TaskDto>> List(
        [FromQuery, DocumentedAs(typeof(AiTaskStatus))] string? status,
        [FromQuery, DocumentedAs(typeof(DomainType), typeof(CapabilityType))] string? type,
        [FromQuery, DocumentedAs(typeof(DomainType))] string? domain,
        [FromQuery, DocumentedAs(typeof(CapabilityType))] string? capability,
        [FromQuery, DocumentedAs(typeof(ExecutionType))] string? execution,
        [FromQuery, DocumentedAs(typeof(int))] string? page,
        [FromQuery, DocumentedAs(typeof(int))] string? pageSize,
        [FromQuery, DocumentedAs(typeof(bool))] string? includePayload,
        [FromServices] ListTasksHandler handler,
        CancellationToken cancellationToken)
    {
        var query = new ListTasksQuery(User.TenantId(), status, type, domain, capability, execution, RequestValues.WholeNumber(page, nameof(page)), RequestValues.WholeNumber(pageSize, nameof(pageSize)), RequestValues.Flag(includePayload, nameof(includePayload)));
        var result = await handler.HandleAsync(query, cancellationToken);
        Response.Headers[TotalCountHeader] = result.TotalCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (result.TotalIsCapped)
        {
            Response.Headers[TotalCountCappedHeader] = "true";
        }

        return result.Items;
    }

    /// <summary>Cancels a task: at once when it is not running (200), by signalling its worker when it is (202).</summary>
    [HttpPost("{id}/cancel", Name = "cancelTask")]
    [ProducesResponseType<TaskDto>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<TaskDto>(StatusCodes.Status202Accepted, "application/json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    public async Task<IActionResult> Cancel([DocumentedAs(typeof(Guid))] string id, [FromServices] CancelTaskHandler handler, CancellationToken cancellationToken)
    {
        var result = await handler.HandleAsync(User.TenantId(), RequestValues.Id(id, "Task"), cancellationToken);
        return result.Outcome == CancelOutcome.Cancelled ? Ok(result.Task) : Accepted(result.Task);
    }

    /// <summary>One task with its status, attempt count, last error and timestamps.</summary>
    [HttpGet("{id}", Name = "getTask")]
    [ProducesResponseType<TaskDto>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public async Task<TaskDto> Get([DocumentedAs(typeof(Guid))] string id, [FromServices] GetTaskHandler handler, CancellationToken cancellationToken) =>
        await handler.GetAsync(User.TenantId(), RequestValues.Id(id, "Task"), cancellationToken);

    /// <summary>Every attempt of the task with model, tokens, cost, latency and error.</summary>
    [HttpGet("{id}/attempts", Name = "listTaskAttempts")]
    [ProducesResponseType<IReadOnlyList<TaskAttemptDto>>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public async Task<IReadOnlyList<TaskAttemptDto>> Attempts([DocumentedAs(typeof(Guid))] string id, [FromServices] GetTaskHandler handler, CancellationToken cancellationToken) =>
        await handler.GetAttemptsAsync(User.TenantId(), RequestValues.Id(id, "Task"), cancellationToken);

    /// <summary>The task's outputs.</summary>
    [HttpGet("{id}/artifacts", Name = "listTaskArtifacts")]
    [ProducesResponseType<IReadOnlyList<TaskArtifactDto>>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public async Task<IReadOnlyList<TaskArtifactDto>> Artifacts([DocumentedAs(typeof(Guid))] string id, [FromServices] GetTaskHandler handler, CancellationToken cancellationToken) =>
        await handler.GetArtifactsAsync(User.TenantId(), RequestValues.Id(id, "Task"), cancellationToken);
}
