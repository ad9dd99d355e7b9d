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
/// Which task events are copied to ServiceC's webhook queue: only the types some enabled endpoint subscribes to, so
/// tenants without one do not pay for a fan-out that has nothing to send, and an endpoint that takes only outcomes does
/// not have every task's created, queued, reserved and started events copied and read for it.
/// </summary>
public interface IWebhookEventRouting
{
    /// <summary>
    /// After an endpoint that receives <paramref name="eventTypes"/> was committed (registered, enabled again): from when
    /// this returns, every task event of those types reaches the webhook queue. Waits for a decision to stop the copies
    /// that may have missed the endpoint.
    /// </summary>
    Task OpenAsync(IReadOnlyCollection<string> eventTypes, CancellationToken cancellationToken);

    /// <summary>ServiceC: copies on for the types enabled endpoints subscribe to, off for the others; returns the types copied.</summary>
    /// <param name="known">
    /// What the caller last set and trusts still holds: nothing is sent to the broker when it agrees. Null: set it
    /// whatever it is (at start, and now and then in case the broker lost it or another process bound more).
    /// </param>
    Task<IReadOnlySet<string>> ReconcileAsync(IReadOnlySet<string>? known, CancellationToken cancellationToken);
}
