using AssistenteIa.Domain.Entities;

namespace AssistenteIa.Application.Webhooks;

/// <summary>A webhook endpoint as the REST API shows it (never its secret).</summary>
public sealed record WebhookEndpointDto(
    Guid Id,
    string Url,
    IReadOnlyList<string> Events,
    string? Description,
    bool Enabled,
    string? DisabledReason,
    int ConsecutiveFailures,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public static WebhookEndpointDto From(WebhookEndpoint e) =>
        new(e.Id, e.Url, e.Events, e.Description, e.Enabled, e.DisabledReason, e.ConsecutiveFailures, e.CreatedAt, e.UpdatedAt);
}

/// <summary>The answer to a registration: the endpoint and its signing secret (<c>whsec_…</c>), shown this once.</summary>
public sealed record CreatedWebhookDto(
    Guid Id,
    string Url,
    IReadOnlyList<string> Events,
    string? Description,
    bool Enabled,
    DateTimeOffset CreatedAt,
    string Secret);

public sealed record WebhookDeliveryDto(
    Guid Id,
    Guid EventId,
    string EventType,
    WebhookDeliveryStatus Status,
    int Attempts,
    int? LastStatusCode,
    string? LastError,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? DeliveredAt,
    DateTimeOffset CreatedAt);

/// <summary>The body of <c>POST /api/v1/webhooks</c>.</summary>
public sealed record CreateWebhookCommand(string TenantId, string? Url, IReadOnlyList<string>? Events, string? Description);
