using System.ClientModel;
using System.Net;
using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Infrastructure.Ai;

/// <summary>Runs a task through the configured <see cref="IChatClient"/> and classifies its failures as transient or permanent.</summary>
public sealed class ChatClientTaskExecutor(IChatClient chat, TokenCounter tokens, IOptions<AiOptions> options) : ITaskExecutor
{
    public const string ContextMarker = "\n\nContext:\n";

    /// <summary>A plain answer to the prompt: one text artifact.</summary>
    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var answer = await AskAsync(request, Instructions(request.Type), format: null, cancellationToken);
        return new ExecutionResult(answer.Text, answer.Usage);
    }

    /// <summary>
    /// Sends the prompt (and context) with <paramref name="instructions"/>; <paramref name="format"/> asks for structured
    /// output where the provider supports it. Failures come out classified as <see cref="TaskExecutionException"/>.
    /// </summary>
    public Task<ChatAnswer> AskAsync(ExecutionRequest request, string instructions, ChatResponseFormat? format, CancellationToken cancellationToken) =>
        AskAsync(request, instructions, format, attachments: [], cancellationToken);

    /// <summary>As above, with <paramref name="attachments"/> (images as <see cref="DataContent"/>) sent after the prompt in the user's message.</summary>
    public async Task<ChatAnswer> AskAsync(
        ExecutionRequest request, string instructions, ChatResponseFormat? format, IReadOnlyList<AIContent> attachments, CancellationToken cancellationToken)
    {
        var payload = request.Payload;
        var model = payload.Model ?? options.Value.DefaultModel;
        var user = string.IsNullOrWhiteSpace(payload.Context) ? payload.Prompt : payload.Prompt + ContextMarker + payload.Context;
        // A vision task usually has no prompt: its images alone make the user's message, without an empty text part.
        List<AIContent> userContents = string.IsNullOrWhiteSpace(user) && attachments.Count > 0 ? [.. attachments] : [new TextContent(user), .. attachments];
        List<ChatMessage> messages =
        [
            new(ChatRole.System, instructions),
            new(ChatRole.User, userContents),
        ];
        var chatOptions = new ChatOptions { ModelId = model, AdditionalProperties = Properties(request), ResponseFormat = format };

        // Counted only when the provider does not report usage, or the attempt is cancelled: tokenizing is not free.
        long CountInputTokens() => messages.Sum(m => tokens.Count(m.Text));

        try
        {
            var response = await chat.GetResponseAsync(messages, chatOptions, cancellationToken);
            var usage = new ExecutionUsage(
                response.ModelId ?? model,
                response.Usage?.InputTokenCount ?? CountInputTokens(),
                response.Usage?.OutputTokenCount ?? tokens.Count(response.Text));
            return new ChatAnswer(response.Text, usage);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The prompt was already sent: the input tokens count as consumed.
            throw new AttemptCancelledException(new ExecutionUsage(model, CountInputTokens(), 0), cancellationToken);
        }
        catch (Exception ex) when (Classify(ex) is { } kind)
        {
            // The provider's own text may carry its URL, account or request details: tenants get a safe sentence,
            // the worker's log gets the exception.
            throw new TaskExecutionException(kind.Kind, kind.Code, SafeMessage(kind.Code), new ExecutionUsage(model, 0, 0), ex);
        }
    }

    /// <summary>Timeouts, 408, 429, 5xx and connection errors are transient; other 4xx are permanent.</summary>
    public static (ErrorKind Kind, string Code)? Classify(Exception ex) => ex switch
    {
        HttpRequestException { StatusCode: { } status } => ByStatus((int)status),
        HttpRequestException => (ErrorKind.Transient, "ConnectionError"),
        ClientResultException { Status: > 0 } result => ByStatus(result.Status),
        ClientResultException => (ErrorKind.Transient, "ConnectionError"),
        TimeoutException => (ErrorKind.Transient, "Timeout"),
        OperationCanceledException => (ErrorKind.Transient, "Timeout"),
        JsonException => (ErrorKind.Permanent, "InvalidResponse"),
        _ => null,
    };

    private static string SafeMessage(string code) => code switch
    {
        "Timeout" => "The model provider did not answer in time.",
        "RateLimited" => "The model provider is rate limiting requests.",
        "ConnectionError" => "The model provider could not be reached.",
        "InvalidResponse" => "The model provider's answer could not be read.",
        _ when code.StartsWith("Http", StringComparison.Ordinal) => $"The model provider answered HTTP {code[4..]}.",
        _ => "The model provider failed.",
    };

    private static (ErrorKind, string) ByStatus(int status) => status switch
    {
        (int)HttpStatusCode.RequestTimeout => (ErrorKind.Transient, "Timeout"),
        (int)HttpStatusCode.TooManyRequests => (ErrorKind.Transient, "RateLimited"),
        >= 500 => (ErrorKind.Transient, $"Http{status}"),
        _ => (ErrorKind.Permanent, $"Http{status}"),
    };

    private static AdditionalPropertiesDictionary Properties(ExecutionRequest request)
    {
        var properties = new AdditionalPropertiesDictionary
        {
            [LocalChatClient.CapabilityKey] = request.Type.Capability,
            [LocalChatClient.AttemptKey] = request.AttemptNo,
        };
        if (request.Payload.Simulation is { } simulation)
        {
            properties[LocalChatClient.LatencyKey] = simulation.LatencyMs;
            properties[LocalChatClient.FailAttemptsKey] = simulation.FailAttempts;
            properties[LocalChatClient.PermanentFailureKey] = simulation.Failure == SimulatedFailure.Permanent;
        }

        if (request.Payload.Labels is { } labels)
        {
            properties[LocalChatClient.LabelsKey] = labels;
        }

        return properties;
    }

    public static string Instructions(TaskType type) => type.Capability switch
    {
        CapabilityType.LLM_Classification => "Classify the input. Answer as 'label: <label>'.",
        CapabilityType.LLM_Reasoning => "Reason step by step and give a conclusion.",
        _ => $"You help with {type.Domain}. Answer the request using the context when given.",
    };
}

/// <summary>The model's text and what the call consumed.</summary>
public sealed record ChatAnswer(string Text, ExecutionUsage Usage);
