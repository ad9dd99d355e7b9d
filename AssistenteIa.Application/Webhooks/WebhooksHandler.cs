using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Events;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Webhooks;

/// <summary>A tenant's webhook endpoints and their deliveries; everything scoped to the caller's tenant.</summary>
public sealed class WebhooksHandler(
    IAppDbContext db,
    IWebhookSecrets secrets,
    IOutboundUrlPolicy urls,
    IWebhookEventRouting routing,
    IOptions<WebhookOptions> options,
    TimeProvider clock,
    ILogger<WebhooksHandler> logger)
{
    public const int MaxDeliveriesPage = 100;

    /// <summary>The event types an endpoint may subscribe to: <c>task.created</c>, <c>task.succeeded</c>, …</summary>
    public static readonly IReadOnlyList<string> EventTypes = TaskEventNames.All.Select(Messaging.Queues.RoutingKeyOf).ToList();

    public async Task<CreatedWebhookDto> CreateAsync(CreateWebhookCommand command, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        Uri? url = null;
        if (string.IsNullOrWhiteSpace(command.Url) || command.Url.Length > WebhookEndpoint.MaxUrlLength
            || !Uri.TryCreate(command.Url, UriKind.Absolute, out url) || url.AbsoluteUri.Length > WebhookEndpoint.MaxUrlLength)
        {
            errors["url"] = [$"url must be an absolute http or https URL of at most {WebhookEndpoint.MaxUrlLength} characters."];
        }
        else if (await urls.CheckAsync(url, cancellationToken) is { } refused)
        {
            errors["url"] = [refused];
        }

        var events = command.Events ?? [];
        if (events.Count == 0 || events.Count > WebhookEndpoint.MaxEvents)
        {
            errors["events"] = [$"events must list 1 to {WebhookEndpoint.MaxEvents} event types: {string.Join(", ", EventTypes)}."];
        }
        else if (events.Any(e => e is null || !EventTypes.Contains(e, StringComparer.Ordinal)))
        {
            errors["events"] = [$"Unknown event type; known: {string.Join(", ", EventTypes)}."];
        }

        if (command.Description is { Length: > WebhookEndpoint.MaxDescriptionLength })
        {
            errors["description"] = [$"description must be at most {WebhookEndpoint.MaxDescriptionLength} characters."];
        }
        else if (command.Description?.Contains('\0') == true)
        {
            errors["description"] = ["description must not contain NUL characters."];
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        var secret = secrets.NewSecret();
        var endpoint = WebhookEndpoint.Create(command.TenantId, url!, events, command.Description, secrets.Protect(secret), clock.GetUtcNow());

        // The count and the insert under the tenant's lock: registrations racing at the limit would all count one less.
        await db.InLockedTransactionAsync(
            $"webhook endpoints of {command.TenantId}",
            async ct =>
            {
                if (await db.WebhookEndpoints.CountAsync(e => e.TenantId == command.TenantId, ct) >= options.Value.MaxEndpointsPerTenant)
                {
                    throw new QuotaExceededException($"A tenant may register at most {options.Value.MaxEndpointsPerTenant} webhook endpoints.");
                }

                db.WebhookEndpoints.Add(endpoint);
                await db.SaveChangesAsync(ct);
            },
            ct => db.WebhookEndpoints.AnyAsync(e => e.Id == endpoint.Id, ct),
            cancellationToken);
        await SettleAsync(endpoint.Events);
        return new CreatedWebhookDto(endpoint.Id, endpoint.Url, endpoint.Events, endpoint.Description, endpoint.Enabled, endpoint.CreatedAt, secret);
    }

    public async Task<IReadOnlyList<WebhookEndpointDto>> ListAsync(string tenantId, CancellationToken cancellationToken) =>
        (await db.WebhookEndpoints.AsNoTracking().Where(e => e.TenantId == tenantId).OrderBy(e => e.CreatedAt).ToListAsync(cancellationToken))
            .Select(WebhookEndpointDto.From)
            .ToList();

    public async Task<WebhookEndpointDto> GetAsync(string tenantId, Guid id, CancellationToken cancellationToken) =>
        WebhookEndpointDto.From(await FindAsync(tenantId, id, cancellationToken));

    public async Task DeleteAsync(string tenantId, Guid id, CancellationToken cancellationToken)
    {
        db.WebhookEndpoints.Remove(await FindAsync(tenantId, id, cancellationToken));
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>
    /// Enables a disabled endpoint again (its failed deliveries stay failed; redeliver those wanted). An enabled one is
    /// answered as it is, at once: nothing to write or to wait for, and its failures keep counting.
    /// </summary>
    public async Task<WebhookEndpointDto> EnableAsync(string tenantId, Guid id, CancellationToken cancellationToken)
    {
        var endpoint = await FindAsync(tenantId, id, cancellationToken);
        if (!endpoint.Enable(clock.GetUtcNow()))
        {
            return WebhookEndpointDto.From(endpoint);
        }

        await db.SaveChangesAsync(cancellationToken);
        await SettleAsync(endpoint.Events);
        return WebhookEndpointDto.From(endpoint);
    }

    /// <summary>
    /// Answers a change that adds an endpoint to the fan-out only once the task events it takes are copied to ServiceC's queue
    /// (<see cref="IWebhookEventRouting"/>) and ServiceC's cached endpoint lists read before it have expired
    /// (<see cref="WebhookEndpointCache"/>): the events of tasks changed after the answer reach it. The change is
    /// committed: neither a client that stops waiting nor a broker that is down turns it into an error (the secret is
    /// shown once); ServiceC turns the copies on itself within a poll once the broker answers.
    /// </summary>
    private async Task SettleAsync(IReadOnlyCollection<string> eventTypes)
    {
        try
        {
            await routing.OpenAsync(eventTypes, CancellationToken.None);
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Could not turn on the copies of task events to the webhook queue; ServiceC will once the broker answers");
        }

        await Task.Delay(WebhookEndpointCache.SettleTime, clock, CancellationToken.None);
    }

    /// <summary>The endpoint's deliveries, newest first.</summary>
    public async Task<IReadOnlyList<WebhookDeliveryDto>> DeliveriesAsync(string tenantId, Guid id, int? limit, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxDeliveriesPage)
        {
            throw RequestValidationException.For("limit", $"limit must be between 1 and {MaxDeliveriesPage}.");
        }

        await FindAsync(tenantId, id, cancellationToken);
        return await db.WebhookDeliveries.AsNoTracking()
            .Where(d => d.EndpointId == id && d.TenantId == tenantId)
            .OrderByDescending(d => d.CreatedAt)
            .Take(limit ?? 50)
            .Select(d => new WebhookDeliveryDto(
                d.Id, d.EventId, d.EventType, d.Status, d.Attempts, d.LastStatusCode, d.LastError,
                d.Status == WebhookDeliveryStatus.Pending ? d.NextAttemptAt : null, d.DeliveredAt, d.CreatedAt))
            .ToListAsync(cancellationToken);
    }

    public async Task RedeliverAsync(string tenantId, Guid id, Guid deliveryId, CancellationToken cancellationToken)
    {
        var delivery = await db.WebhookDeliveries.FirstOrDefaultAsync(d => d.Id == deliveryId && d.EndpointId == id && d.TenantId == tenantId, cancellationToken)
            ?? throw new NotFoundException($"Delivery {deliveryId} of webhook {id} was not found.");
        if (delivery.Status == WebhookDeliveryStatus.Pending)
        {
            throw new ConflictException($"Delivery {deliveryId} is still pending; it will be attempted again at {delivery.NextAttemptAt:O}.");
        }

        delivery.Redeliver(clock.GetUtcNow());
        await db.SaveChangesAsync(cancellationToken);
    }

    private async Task<WebhookEndpoint> FindAsync(string tenantId, Guid id, CancellationToken cancellationToken) =>
        await db.WebhookEndpoints.FirstOrDefaultAsync(e => e.Id == id && e.TenantId == tenantId, cancellationToken)
            ?? throw new NotFoundException($"Webhook {id} was not found.");
}
