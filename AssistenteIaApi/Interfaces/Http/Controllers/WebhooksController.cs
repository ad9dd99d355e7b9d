using AssistenteIa.Application.Webhooks;
using AssistenteIaApi.Interfaces.Http.RequestModels;
using AssistenteIaApi.OpenApi;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace AssistenteIaApi.Interfaces.Http.Controllers;

/// <summary>
/// Webhook endpoints of the caller's tenant: task events POSTed to a URL, signed per Standard Webhooks, retried with
/// backoff, the endpoint disabled after too many failures in a row.
/// </summary>
[ApiController]
[Authorize]
[Route("api/v1/webhooks")]
public sealed class WebhooksController(WebhooksHandler handler) : ControllerBase
{
    /// <summary>
    /// Registers an endpoint; the answer carries its signing secret, shown this once. It comes about 1.5 s after the
    /// endpoint is stored: every task event written after the answer reaches the endpoint.
    /// </summary>
    [HttpPost(Name = "createWebhook")]
    [Consumes("application/json")]
    [ProducesResponseType<CreatedWebhookDto>(StatusCodes.Status201Created, "application/json")]
    [ProducesResponseType<ValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status429TooManyRequests, "application/problem+json")]
    public async Task<IActionResult> Create([FromBody] CreateWebhookRequest request, CancellationToken cancellationToken)
    {
        var created = await handler.CreateAsync(request.ToCommand(User.TenantId()), cancellationToken);
        return Created($"/api/v1/webhooks/{created.Id}", created);
    }

    /// <summary>The tenant's endpoints, oldest first.</summary>
    [HttpGet(Name = "listWebhooks")]
    [ProducesResponseType<IReadOnlyList<WebhookEndpointDto>>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    public Task<IReadOnlyList<WebhookEndpointDto>> List(CancellationToken cancellationToken) =>
        handler.ListAsync(User.TenantId(), cancellationToken);

    /// <summary>One endpoint, with whether it is enabled and why not.</summary>
    [HttpGet("{id}", Name = "getWebhook")]
    [ProducesResponseType<WebhookEndpointDto>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public Task<WebhookEndpointDto> Get([DocumentedAs(typeof(Guid))] string id, CancellationToken cancellationToken) =>
        handler.GetAsync(User.TenantId(), RequestValues.Id(id, "Webhook"), cancellationToken);

    /// <summary>Deletes an endpoint and its deliveries.</summary>
    [HttpDelete("{id}", Name = "deleteWebhook")]
    [ProducesResponseType(StatusCodes.Status204NoContent)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public async Task<IActionResult> Delete([DocumentedAs(typeof(Guid))] string id, CancellationToken cancellationToken)
    {
        await handler.DeleteAsync(User.TenantId(), RequestValues.Id(id, "Webhook"), cancellationToken);
        return NoContent();
    }

    /// <summary>Enables a disabled endpoint again; answered, like a registration, once the endpoint receives every later event.</summary>
    [HttpPost("{id}/enable", Name = "enableWebhook")]
    [ProducesResponseType<WebhookEndpointDto>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public Task<WebhookEndpointDto> Enable([DocumentedAs(typeof(Guid))] string id, CancellationToken cancellationToken) =>
        handler.EnableAsync(User.TenantId(), RequestValues.Id(id, "Webhook"), cancellationToken);

    /// <summary>The endpoint's deliveries, newest first: event, attempts, last status code and error, next retry, delivered at.</summary>
    /// <param name="id">The endpoint id.</param>
    /// <param name="limit">1 to 100 (default 50).</param>
    /// <param name="cancellationToken">Aborts the request.</param>
    [HttpGet("{id}/deliveries", Name = "listWebhookDeliveries")]
    [ProducesResponseType<IReadOnlyList<WebhookDeliveryDto>>(StatusCodes.Status200OK, "application/json")]
    [ProducesResponseType<ValidationProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    public Task<IReadOnlyList<WebhookDeliveryDto>> Deliveries([DocumentedAs(typeof(Guid))] string id, [FromQuery, DocumentedAs(typeof(int))] string? limit, CancellationToken cancellationToken) =>
        handler.DeliveriesAsync(User.TenantId(), RequestValues.Id(id, "Webhook"), RequestValues.WholeNumber(limit, nameof(limit)), cancellationToken);

    /// <summary>Sends a finished delivery again, now, with a fresh set of attempts.</summary>
    [HttpPost("{id}/deliveries/{deliveryId}/redeliver", Name = "redeliverWebhookDelivery")]
    [ProducesResponseType(StatusCodes.Status202Accepted)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status401Unauthorized, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    public async Task<IActionResult> Redeliver([DocumentedAs(typeof(Guid))] string id, [DocumentedAs(typeof(Guid))] string deliveryId, CancellationToken cancellationToken)
    {
        await handler.RedeliverAsync(User.TenantId(), RequestValues.Id(id, "Webhook"), RequestValues.Id(deliveryId, "Delivery"), cancellationToken);
        return Accepted();
    }
}
