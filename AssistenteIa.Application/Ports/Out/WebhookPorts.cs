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
