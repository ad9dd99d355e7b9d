using System.Net;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.Extensions.AI;

namespace AssistenteIa.Infrastructure.Ai;

/// <summary>
/// An <see cref="IChatClient"/> that answers locally with <see cref="LocalModel"/> and real token counts.
/// Honours simulation options (latency, injected failures) passed in <see cref="ChatOptions.AdditionalProperties"/>.
/// </summary>
public sealed class LocalChatClient(TokenCounter tokens, TimeProvider clock, string defaultModel) : IChatClient
{
    public const string CapabilityKey = "assistenteia.capability";
    public const string LabelsKey = "assistenteia.labels";
    public const string AttemptKey = "assistenteia.attempt";
    public const string LatencyKey = "assistenteia.simulation.latencyMs";
    public const string FailAttemptsKey = "assistenteia.simulation.failAttempts";
    public const string PermanentFailureKey = "assistenteia.simulation.permanent";

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        var properties = options?.AdditionalProperties;
        var latency = Get(properties, LatencyKey, 0);
        if (latency > 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(latency), clock, cancellationToken);
        }

        if (Get(properties, AttemptKey, 1) <= Get(properties, FailAttemptsKey, 0))
        {
            var permanent = Get(properties, PermanentFailureKey, false);
            throw new HttpRequestException(
                permanent ? "Simulated permanent failure (400 Bad Request)." : "Simulated transient failure (503 Service Unavailable).",
                null,
                permanent ? HttpStatusCode.BadRequest : HttpStatusCode.ServiceUnavailable);
        }

        var user = list.LastOrDefault(m => m.Role == ChatRole.User)?.Text ?? "";
        var (prompt, context) = SplitPrompt(user);
        var capability = Get(properties, CapabilityKey, CapabilityType.LLM_Generation);
        var labels = properties is not null && properties.TryGetValue(LabelsKey, out var l) ? l as IReadOnlyList<string> : null;
        var answer = options?.ResponseFormat is ChatResponseFormatJson && LocalModel.Structured(capability, prompt, context, labels) is { } structured
            ? System.Text.Json.JsonSerializer.Serialize(structured, AssistenteIa.Application.JsonDefaults.Options)
            : LocalModel.Answer(capability, prompt, context, labels);

        var tokensIn = list.Sum(m => tokens.Count(m.Text));
        var tokensOut = tokens.Count(answer);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, answer))
        {
            ModelId = options?.ModelId ?? defaultModel,
            FinishReason = ChatFinishReason.Stop,
            Usage = new UsageDetails { InputTokenCount = tokensIn, OutputTokenCount = tokensOut, TotalTokenCount = tokensIn + tokensOut },
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var response = await GetResponseAsync(messages, options, cancellationToken);
        foreach (var update in response.ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("local", null, defaultModel)
        : null;

    public void Dispose()
    {
    }

    /// <summary>The user message is "prompt" or "prompt\n\nContext:\ncontext" (see <see cref="ChatClientTaskExecutor"/>).</summary>
    private static (string Prompt, string? Context) SplitPrompt(string text)
    {
        var index = text.IndexOf(ChatClientTaskExecutor.ContextMarker, StringComparison.Ordinal);
        return index < 0 ? (text, null) : (text[..index], text[(index + ChatClientTaskExecutor.ContextMarker.Length)..]);
    }

    private static T Get<T>(AdditionalPropertiesDictionary? properties, string key, T fallback) =>
        properties is not null && properties.TryGetValue(key, out var value) && value is T typed ? typed : fallback;
}
