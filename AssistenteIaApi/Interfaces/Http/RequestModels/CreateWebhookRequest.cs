using AssistenteIa.Application.Webhooks;

namespace AssistenteIaApi.Interfaces.Http.RequestModels;

/// <summary>Body of <c>POST /api/v1/webhooks</c>.</summary>
public sealed record CreateWebhookRequest
{
    /// <summary>Where deliveries are POSTed: http or https, reachable from the internet (no private or loopback address outside Development).</summary>
    public string? Url { get; init; }

    /// <summary>The event types to receive, e.g. <c>task.succeeded</c>, <c>task.deadlettered</c>.</summary>
    public IReadOnlyList<string>? Events { get; init; }

    /// <summary>A note for people, up to 500 characters.</summary>
    public string? Description { get; init; }

    public CreateWebhookCommand ToCommand(string tenantId) => new(tenantId, Url, Events, Description);
}
