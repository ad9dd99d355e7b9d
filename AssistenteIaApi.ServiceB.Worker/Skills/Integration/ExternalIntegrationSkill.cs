using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Capabilities;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Ai;
using AssistenteIa.Infrastructure.Webhooks;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Integration;

/// <summary>The <c>response</c> artifact. <see cref="Body"/> is text, or base64 when <see cref="BodyBase64"/> is true.</summary>
public sealed record IntegrationResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body, bool BodyBase64);

/// <summary>The client for tasks' HTTP calls: through the SSRF guard at each connection, no redirects, no proxy, no decompression.</summary>
public sealed class IntegrationHttpClient(OutboundUrlPolicy urls, IOptions<IntegrationsOptions> options) : IDisposable
{
    public HttpClient Http { get; } = urls.CreateHttpClient(options.Value.Timeout, "AssistenteIa-Integrations");

    public void Dispose() => Http.Dispose();
}

/// <summary>
/// ExternalIntegration: makes the HTTP call described in <c>payload.request</c> and keeps the response (status, headers,
/// body) as the <c>response</c> artifact; with a <c>prompt</c>, the model then summarises it as <c>summary</c>.
/// Secrets named in <c>secretHeaders</c> come from <see cref="IntegrationsOptions.Secrets"/>, go only to the hosts (and
/// for the tenants) each is bound to, and are redacted from whatever the server sends back. Timeouts, connection errors, 408, 429 and 5xx are transient; other statuses, a
/// URL the SSRF guard refuses at connection (an internal address, a port not allowed) and a response over the size limit
/// are permanent.
/// </summary>
public sealed class ExternalIntegrationSkill(IntegrationHttpClient client, IOptions<IntegrationsOptions> options, ChatClientTaskExecutor chat) : ITaskSkill
{
    public const string Unit = "calls";
    public const string Model = "http (local)";
    public const string ResponseArtifact = "response";
    public const string SummaryArtifact = "summary";

    /// <summary>How much of the body the model is shown for the summary.</summary>
    public const int MaxSummaryInputChars = 16_000;

    private static readonly ExternalIntegrationContract RequestContract = new();

    public CapabilityType Capability => CapabilityType.ExternalIntegration;

    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        RequestContract.Validate(request.Payload, errors);
        if (errors.Count > 0 || request.Payload.Request is not { } spec)
        {
            throw Permanent("InvalidRequest", string.Join(" ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")), ExecutionUsage.Empty);
        }

        var settings = options.Value;
        var secrets = new List<string>();
        using var message = Build(spec, request.TenantId, settings, secrets);
        var usage = new ExecutionUsage(Model, 0, 0, 1, Unit);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.Timeout);
        IntegrationResponse response;
        string? text;
        try
        {
            using var answer = await client.Http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)answer.StatusCode;
            if (HttpCallOutcome.Classify(status, spec.ExpectedStatus) is { } failure)
            {
                throw new TaskExecutionException(failure.Kind, failure.Code, $"The server answered HTTP {status}, which the task does not expect.", usage);
            }

            if (answer.Content.Headers.ContentLength > settings.MaxResponseBytes)
            {
                throw TooLarge(settings, usage);
            }

            var body = await LimitedBody.ReadAsync(answer.Content, settings.MaxResponseBytes, timeout.Token) ?? throw TooLarge(settings, usage);
            // Redacted after decoding: in the body's own charset (UTF-16, say) the secret's UTF-8 bytes never occur.
            // A body kept as bytes is searched in the encodings a server might echo the secret in.
            text = HttpCallOutcome.AsText(body, answer.Content.Headers.ContentType?.MediaType, answer.Content.Headers.ContentType?.CharSet);
            response = text is not null
                ? new IntegrationResponse(status, Headers(answer, secrets), HttpCallOutcome.Redact(text, secrets), BodyBase64: false)
                : new IntegrationResponse(status, Headers(answer, secrets), Convert.ToBase64String(HttpCallOutcome.Redact(body, secrets)), BodyBase64: true);
            text = text is null ? null : response.Body;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new AttemptCancelledException(usage, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            throw new TaskExecutionException(ErrorKind.Transient, "Timeout", $"The server did not answer within {settings.Timeout}.", usage);
        }
        catch (HttpRequestException ex) when (ex.Find<OutboundUrlRefusedException>() is { } refused)
        {
            throw Permanent("UrlRefused", $"{refused.Reason} Tasks may not reach it.", usage);
        }
        catch (HttpRequestException ex)
        {
            // The exception's text can name addresses; the log gets it, the tenant a plain sentence.
            throw new TaskExecutionException(ErrorKind.Transient, "ConnectionError", "The server could not be reached or broke the connection.", usage, ex);
        }

        List<ArtifactOutput> artifacts = [ArtifactOutput.Json(ResponseArtifact, response)];
        if (string.IsNullOrWhiteSpace(request.Payload.Prompt))
        {
            return new ExecutionResult(artifacts, usage);
        }

        // An attempt records one model, so with a summary the call's unit is priced by the chat model's PerUnit and
        // the price of "http (local)" is not applied. Splitting it needs a usage line per model on the attempt (a
        // schema change); until then configure no PerUnit for chat models, or accept the call is priced as theirs.
        var summary = await SummariseAsync(request, response, text, usage, cancellationToken);
        artifacts.Add(ArtifactOutput.Text(summary.Text, SummaryArtifact));
        return new ExecutionResult(artifacts, summary.Usage with { Units = usage.Units, Unit = usage.Unit });
    }

    /// <summary>The request as the task describes it; the values of the secrets it names go into <paramref name="secrets"/>, for redaction.</summary>
    private static HttpRequestMessage Build(HttpCallSpec spec, string tenantId, IntegrationsOptions settings, List<string> secrets)
    {
        var url = new Uri(spec.Url);
        var message = new HttpRequestMessage(new HttpMethod(spec.Method), url);
        if (spec.Body is { } body)
        {
            // A JSON string is sent as its text; any other JSON value as compact JSON (the stored payload is jsonb,
            // which neither keeps the client's spacing nor its key order).
            message.Content = body.ValueKind == JsonValueKind.String
                ? new StringContent(body.GetString()!, Encoding.UTF8, "text/plain")
                : new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        }

        var headers = (spec.Headers ?? []).Select(h => (h.Key, h.Value)).ToList();
        foreach (var (header, secretName) in spec.SecretHeaders ?? [])
        {
            // Another tenant's secret reads as unknown: its existence is not this tenant's business.
            var secret = settings.Secret(secretName) is { } found && found.AllowsTenant(tenantId) ? found
                : throw Permanent("UnknownSecret", $"No secret named '{secretName}' is configured for this tenant's integrations.", ExecutionUsage.Empty);
            if (!secret.AllowsUrl(url))
            {
                throw Permanent("SecretNotAllowed", $"The secret '{secretName}' may not be sent to {url.Scheme}://{url.IdnHost}:{url.Port} (secrets go over https to their own hosts and ports only).", ExecutionUsage.Empty);
            }

            secrets.Add(secret.Value);
            headers.Add((header, secret.Value));
        }

        foreach (var (name, value) in headers)
        {
            // Names and values were checked at POST (tokens, one line); content headers belong to the body, and without one they mean nothing.
            if (!message.Headers.TryAddWithoutValidation(name, value) && message.Content is { } content)
            {
                content.Headers.Remove(name);
                content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return message;
    }

    private async Task<ChatAnswer> SummariseAsync(ExecutionRequest request, IntegrationResponse response, string? text, ExecutionUsage callUsage, CancellationToken cancellationToken)
    {
        var body = text is null ? $"({response.Body.Length} characters of base64: binary content)"
            : text.Length > MaxSummaryInputChars ? text[..MaxSummaryInputChars] + "\n[…truncated]"
            : text;
        var context = new StringBuilder()
            .Append(request.Payload.Context is { Length: > 0 } given ? given + "\n\n" : "")
            .Append("HTTP ").Append(response.Status).Append('\n')
            .AppendJoin('\n', response.Headers.Select(h => $"{h.Key}: {h.Value}"))
            .Append("\n\n").Append(body)
            .ToString();
        var summaryRequest = request with { Payload = request.Payload with { Context = context } };
        try
        {
            return await chat.AskAsync(summaryRequest, "Summarise the HTTP response below for the user's request. Be brief and factual.", format: null, cancellationToken);
        }
        catch (TaskExecutionException ex)
        {
            throw new TaskExecutionException(ex.Kind, ex.Code, ex.Message, ex.Usage with { Units = callUsage.Units, Unit = callUsage.Unit }, ex.InnerException);
        }
        catch (AttemptCancelledException ex)
        {
            throw new AttemptCancelledException(ex.Usage with { Units = callUsage.Units, Unit = callUsage.Unit }, ex.CancellationToken);
        }
    }

    private static Dictionary<string, string> Headers(HttpResponseMessage answer, IReadOnlyCollection<string> secrets)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in answer.Headers.Concat(answer.Content.Headers))
        {
            headers[name] = HttpCallOutcome.Redact(string.Join(", ", values), secrets);
        }

        return headers;
    }

    private static TaskExecutionException TooLarge(IntegrationsOptions settings, ExecutionUsage usage) =>
        Permanent("ResponseTooLarge", $"The response is larger than {settings.MaxResponseBytes} bytes.", usage);

    private static TaskExecutionException Permanent(string code, string message, ExecutionUsage usage) => new(ErrorKind.Permanent, code, message, usage);
}
