namespace AssistenteIa.Application.Ports.Out;

/// <summary>Makes and keeps webhook signing secrets: stored encrypted, readable only by the processes sharing the key ring.</summary>
public interface IWebhookSecrets
{
    /// <summary>A new random secret in the Standard Webhooks form <c>whsec_&lt;base64&gt;</c>.</summary>
    string NewSecret();

    string Protect(string secret);

    string Unprotect(string protectedSecret);
}

/// <summary>Decides whether a tenant-given URL may be called: scheme, and every address its host resolves to.</summary>
public interface IOutboundUrlPolicy
{
    /// <summary>Null when allowed; otherwise why not, in words a tenant can act on.</summary>
    Task<string?> CheckAsync(Uri url, CancellationToken cancellationToken);
}

/// <summary>
/// Whether task events are copied to ServiceC's webhook queue: only while some webhook endpoint is enabled, so tenants
/// without one do not pay for a fan-out that has nothing to send.
/// </summary>
public interface IWebhookEventRouting
{
    /// <summary>
    /// After an endpoint that receives events was committed (registered, enabled again): from when this returns, every
    /// task event reaches the webhook queue. Waits for a decision to stop the copies that may have missed the endpoint.
    /// </summary>
    Task OpenAsync(CancellationToken cancellationToken);

    /// <summary>ServiceC: copies on while an enabled endpoint exists, off otherwise; returns whether they are on.</summary>
    /// <param name="known">
    /// What the caller last set and trusts still holds: nothing is sent to the broker when it agrees. Null: set it
    /// whatever it is (at start, and now and then in case the broker lost it or another process bound it).
    /// </param>
    Task<bool> ReconcileAsync(bool? known, CancellationToken cancellationToken);
}
