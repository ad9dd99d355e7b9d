using AssistenteIa.Application.Stats.Queries.GetStats;
using AssistenteIaApi.OpenApi;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace AssistenteIaApi.Interfaces.Http.Controllers;

/// <summary>Aggregates of the tenant's tasks for a dashboard: counts by status, throughput, latency, usage and cost.</summary>
[ApiController]
[Authorize]
[Route("api/v1/stats")]
public sealed class StatsController : ControllerBase
{
    /// <summary>
    /// The tenant's task statistics over a window [from, to), in buckets aligned on whole UTC minutes, hours or days (the
    /// first and last cut by the window).
    /// </summary>
    /// <remarks>
    /// - `byStatus`: tasks created in the window, by their status now; every status is listed, 0 included.
    /// - `throughput`: per bucket, the tasks created, and the tasks that reached Succeeded, DeadLetter (`failed`: failed
    ///   for good; a failed attempt that is retried is not counted) or Cancelled, by when they reached it.
    /// - `latency`, `latencyByBucket` (milliseconds, `percentile_cont`; null when there is nothing to measure), over the
    ///   attempts that started in the window: `queueWait` is a first attempt's start − the later of its task's creation
    ///   and `scheduledAt` (as created: a retry's backoff does not count); `execution` is the `latencyMs` of every
    ///   finished attempt, retries included.
    /// - `usageByModel`, `usageByDay`: the attempts that started in the window and recorded a model (one closed after a
    ///   lost lease without usage has none and is left out), with their tokens and cost; by the UTC day of their start.
    /// </remarks>
    /// <param name="from">ISO 8601 date-time, UTC when it has no offset (default: <c>to</c> − 24 hours).</param>
    /// <param name="to">ISO 8601 date-time, exclusive (default: now). At most 31 days after <c>from</c>.</param>
    /// <param name="bucket">minute, hour (default) or day; at most 1500 buckets in the window.</param>
    /// <param name="handler">The use case.</param>
    /// <param name="cancellationToken">Aborts the request.</param>
    [HttpGet(Name = "getStats")]
    [ProducesResponseType<StatsDto>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    public Task<StatsDto> Get(
        [FromQuery, DocumentedAs(typeof(DateTimeOffset))] string? from,
        [FromQuery, DocumentedAs(typeof(DateTimeOffset))] string? to,
        [FromQuery, DocumentedAs(typeof(StatsBucket))] string? bucket,
        [FromServices] GetStatsHandler handler,
        CancellationToken cancellationToken) =>
        handler.HandleAsync(new GetStatsQuery(User.TenantId(), from, to, bucket), cancellationToken);
}
