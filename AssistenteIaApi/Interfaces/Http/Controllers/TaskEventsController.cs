using AssistenteIa.Application;
using AssistenteIa.Application.Tasks.Queries.GetTask;
using AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;
using AssistenteIaApi.OpenApi;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.Interfaces.Http.Controllers;

/// <summary>
/// The tasks' lifecycle as Server-Sent Events: one named event per change (<c>task.created</c>, <c>task.queued</c>,
/// <c>task.started</c>, <c>task.succeeded</c>, …) whose data is the event with the task; <c>id</c> is a position to
/// resume from with <c>Last-Event-ID</c>; a comment every heartbeat interval; a <c>resync</c> event when the stream
/// cannot tell what was missed (reload the state with GET). Authenticated by the <c>X-Api-Key</c> header, never a URL.
/// </summary>
[ApiController]
[Authorize]
[Route("api/v1/tasks")]
public sealed class TaskEventsController(TaskEventStream stream, IHostApplicationLifetime lifetime, IOptions<TaskEventStreamOptions> options) : ControllerBase
{
    public const string LastEventIdHeader = "Last-Event-ID";

    /// <summary>Which API instance holds the stream (a random id per process, logged at start), for operators following a client's reconnects.</summary>
    public const string ServedByHeader = "X-Served-By";

    public static readonly string ServedBy = Guid.NewGuid().ToString("N")[..12];

    /// <summary>Every event of the caller's tenant from now on (or since Last-Event-ID), as text/event-stream.</summary>
    /// <param name="lastEventId">The id of the last event received, to resume after a disconnect.</param>
    [HttpGet("events", Name = "streamTenantTaskEvents")]
    [LongLivedRequest]
    [ProducesResponseType<string>(StatusCodes.Status200OK, "text/event-stream")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status429TooManyRequests, "application/problem+json")]
    public Task StreamAll([FromHeader(Name = LastEventIdHeader)] string? lastEventId, CancellationToken cancellationToken) =>
        StreamAsync(null, lastEventId, cancellationToken);

    /// <summary>One task's events: what is kept of its history (the outbox retention), then each change as it happens.</summary>
    /// <param name="id">The task id.</param>
    /// <param name="lastEventId">The id of the last event received, to resume after a disconnect.</param>
    /// <param name="tasks">The task lookup.</param>
    /// <param name="cancellationToken">Ends the stream.</param>
    [HttpGet("{id}/events", Name = "streamTaskEvents")]
    [LongLivedRequest]
    [ProducesResponseType<string>(StatusCodes.Status200OK, "text/event-stream")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status429TooManyRequests, "application/problem+json")]
    public async Task StreamTask(
        [DocumentedAs(typeof(Guid))] string id, [FromHeader(Name = LastEventIdHeader)] string? lastEventId, [FromServices] GetTaskHandler tasks, CancellationToken cancellationToken)
    {
        var taskId = RequestValues.Id(id, "Task");
        await tasks.EnsureVisibleAsync(User.TenantId(), taskId, cancellationToken);
        await StreamAsync(taskId, lastEventId, cancellationToken);
    }

    private async Task StreamAsync(Guid? taskId, string? lastEventId, CancellationToken requestAborted)
    {
        using var subscription = stream.Open(User.TenantId(), taskId)
            ?? throw new QuotaExceededException("Too many event streams are open for this tenant; close one or retry later.");

        // The stream ends when the client goes away or the host stops (the client then reconnects to another instance).
        // It also ends after MaxStreamDuration, so a client reconnects and its key is checked again.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, lifetime.ApplicationStopping);
        stop.CancelAfter(options.Value.MaxStreamDuration);
        Response.ContentType = "text/event-stream";
        Response.Headers.CacheControl = "no-cache";
        Response.Headers["X-Accel-Buffering"] = "no";
        Response.Headers[ServedByHeader] = ServedBy;
        HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        try
        {
            await ServerSentEventsWriter.WriteAsync(stream.ReadAsync(subscription, lastEventId, stop.Token), "retry: 3000\n: connected\n\n", Response.BodyWriter, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The client left or the host is stopping: the response simply ends.
        }
    }
}
