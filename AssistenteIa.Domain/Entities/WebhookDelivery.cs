namespace AssistenteIa.Domain.Entities;

public enum WebhookDeliveryStatus
{
    /// <summary>Waiting for its next attempt at <see cref="WebhookDelivery.NextAttemptAt"/>.</summary>
    Pending,
    Succeeded,

    /// <summary>Every attempt failed (or the endpoint was disabled); a tenant may redeliver it.</summary>
    Failed,
}

/// <summary>
/// One event owed to one endpoint (table <c>WebhookDeliveries</c>, unique per endpoint and event), written before any
/// attempt, so a crash of the sender loses none. <see cref="EventId"/> is the <c>webhook-id</c> receivers dedupe by.
/// </summary>
public sealed class WebhookDelivery
{
    private WebhookDelivery()
    {
    }

    public Guid Id { get; private set; }
    public Guid EndpointId { get; private set; }
    public string TenantId { get; private set; } = "";
    public Guid EventId { get; private set; }
    public string EventType { get; private set; } = "";

    /// <summary>The body sent, <c>{ type, timestamp, data }</c>, the same on every attempt.</summary>
    public string PayloadJson { get; private set; } = "{}";
    public WebhookDeliveryStatus Status { get; private set; }
    public int Attempts { get; private set; }
    public DateTimeOffset NextAttemptAt { get; private set; }

    /// <summary>A sender took it; others leave it alone until then (no row lock held while calling the receiver).</summary>
    public DateTimeOffset? ClaimedUntil { get; private set; }
    public int? LastStatusCode { get; private set; }
    public string? LastError { get; private set; }
    public DateTimeOffset? DeliveredAt { get; private set; }
    public DateTimeOffset CreatedAt { get; private set; }

    public static WebhookDelivery Create(Guid endpointId, string tenantId, Guid eventId, string eventType, string payloadJson, DateTimeOffset now) => new()
    {
        Id = Guid.CreateVersion7(now),
        EndpointId = endpointId,
        TenantId = tenantId,
        EventId = eventId,
        EventType = eventType,
        PayloadJson = payloadJson,
        Status = WebhookDeliveryStatus.Pending,
        NextAttemptAt = now,
        CreatedAt = now,
    };

    public void RecordSuccess(int statusCode, DateTimeOffset now)
    {
        Attempts++;
        Status = WebhookDeliveryStatus.Succeeded;
        LastStatusCode = statusCode;
        LastError = null;
        DeliveredAt = now;
        ClaimedUntil = null;
    }

    /// <summary>A failed attempt: another at <paramref name="retryAt"/>, or none (Failed) when it is null.</summary>
    public void RecordFailure(int? statusCode, string error, DateTimeOffset? retryAt)
    {
        Attempts++;
        LastStatusCode = statusCode;
        LastError = Texts.Fit(error, 2000);
        ClaimedUntil = null;
        if (retryAt is { } next)
        {
            NextAttemptAt = next;
        }
        else
        {
            Status = WebhookDeliveryStatus.Failed;
        }
    }

    /// <summary>Not attempted: the endpoint is disabled or gone.</summary>
    public void Abandon(string reason)
    {
        Status = WebhookDeliveryStatus.Failed;
        LastError = Texts.Fit(reason, 2000);
        ClaimedUntil = null;
    }

    /// <summary>Sends it again now, with a fresh set of attempts.</summary>
    public void Redeliver(DateTimeOffset now)
    {
        Status = WebhookDeliveryStatus.Pending;
        Attempts = 0;
        NextAttemptAt = now;
        ClaimedUntil = null;
    }
}
