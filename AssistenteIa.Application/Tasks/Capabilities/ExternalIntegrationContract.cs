using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks.Capabilities;

/// <summary>
/// ExternalIntegration: an HTTP call to an absolute http(s) URL, with a known method, plain headers (no hop-by-hop or
/// framing headers) and secrets named, never given. Internal hosts are refused by the handler and at connection.
/// </summary>
public sealed class ExternalIntegrationContract : ICapabilityContract
{
    public const int MaxHeaders = 30;
    public const int MaxHeaderValueLength = 4096;

    public static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

    /// <summary>Headers the HTTP stack owns: letting a tenant set them would smuggle requests or lie about the body.</summary>
    private static readonly HashSet<string> ForbiddenHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "TE", "Trailer",
        "Proxy-Authorization", "Proxy-Connection", "Expect",
    };

    public CapabilityType Capability => CapabilityType.ExternalIntegration;

    public void Validate(TaskPayload payload, IDictionary<string, string[]> errors)
    {
        if (payload.Request is not { } request)
        {
            Contract.Add(errors, "payload.request", "ExternalIntegration needs request: { method, url, headers, secretHeaders, body, expectedStatus }.");
            return;
        }

        if (request.Method is null || !Methods.Contains(request.Method, StringComparer.Ordinal))
        {
            Contract.Add(errors, "payload.request.method", $"method must be one of {string.Join(", ", Methods)}.");
        }

        if (request.Url is null || request.Url.Length > Contract.MaxUrlLength || !Uri.TryCreate(request.Url, UriKind.Absolute, out var url)
            || url.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(url.UserInfo))
        {
            Contract.Add(errors, "payload.request.url", $"url must be an absolute http or https URL without credentials, up to {Contract.MaxUrlLength} characters.");
        }

        var headers = (request.Headers ?? []).Concat(request.SecretHeaders ?? []).ToList();
        if (headers.Count > MaxHeaders)
        {
            Contract.Add(errors, "payload.request.headers", $"At most {MaxHeaders} headers.");
        }

        foreach (var (name, value) in headers)
        {
            if (!IsToken(name) || ForbiddenHeaders.Contains(name) || value is null || value.Length > MaxHeaderValueLength || value.Any(c => c is '\r' or '\n' or '\0'))
            {
                Contract.Add(errors, "payload.request.headers", $"The header '{Shorten(name)}' cannot be set: names are HTTP tokens, values one line of up to {MaxHeaderValueLength} characters, and framing headers (Host, Content-Length, Transfer-Encoding, Connection…) are the platform's.");
            }
        }

        if (request.Headers is { } plain && request.SecretHeaders is { } secret && plain.Keys.Intersect(secret.Keys, StringComparer.OrdinalIgnoreCase).Any())
        {
            Contract.Add(errors, "payload.request.secretHeaders", "A header is either in headers or in secretHeaders, not both.");
        }

        foreach (var secretName in (request.SecretHeaders ?? []).Values)
        {
            if (!Contract.IsName(secretName))
            {
                Contract.Add(errors, "payload.request.secretHeaders", "secretHeaders maps a header to the name of a configured secret (letters, digits, '-', '_', '.').");
            }
        }

        if (request.ExpectedStatus is { } expected && (expected.Count is 0 or > 20 || expected.Any(s => s is < 100 or > 599)))
        {
            Contract.Add(errors, "payload.request.expectedStatus", "expectedStatus lists 1 to 20 HTTP statuses (100 to 599).");
        }

        if (request.Body is not null && request.Method is "GET" or "HEAD")
        {
            Contract.Add(errors, "payload.request.body", $"A {request.Method} request has no body.");
        }
    }

    private static bool IsToken(string name) =>
        name.Length is > 0 and <= 100 && name.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal));

    private static string Shorten(string text) => text.Length > 40 ? text[..40] + "…" : text;
}
