using System.ClientModel;
using System.ClientModel.Primitives;
using System.Data.Common;
using AssistenteIa.Application;
using Microsoft.Extensions.AI;
using OpenAI;

namespace AssistenteIa.Infrastructure.Ai;

/// <summary>Chooses the chat provider from <c>Ai:Provider</c>: the built-in local model or an OpenAI-compatible endpoint.</summary>
public static class ChatClientFactory
{
    public const string ConnectionStringName = "ai";

    /// <param name="connectionString">For OpenAI: <c>Endpoint=https://…/v1;Key=…;Model=…</c> (OpenAI, Azure OpenAI v1, Ollama, vLLM).</param>
    public static IChatClient Create(AiOptions options, string? connectionString, TokenCounter tokens, TimeProvider clock)
    {
        if (options.Provider.Equals("Local", StringComparison.OrdinalIgnoreCase))
        {
            return new LocalChatClient(tokens, clock, options.DefaultModel);
        }

        if (!options.Provider.Equals("OpenAI", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Ai:Provider must be Local or OpenAI, not '{options.Provider}'.");
        }

        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException($"Ai:Provider is OpenAI but ConnectionStrings:{ConnectionStringName} is not set (Endpoint=…;Key=…;Model=…).");
        }

        var (model, key, clientOptions) = OpenAiConnection(connectionString, options.DefaultModel);
        return new OpenAI.Chat.ChatClient(model, new ApiKeyCredential(key), clientOptions).AsIChatClient();
    }

    /// <summary>
    /// The model, key and client options of <c>Endpoint=…;Key=…;Model=…</c>, shared by chat and embeddings. The platform
    /// retries attempts with its own backoff and records each one: the SDK must not retry inside an attempt.
    /// </summary>
    internal static (string Model, string Key, OpenAIClientOptions Options) OpenAiConnection(string connectionString, string defaultModel, TimeSpan? networkTimeout = null)
    {
        var parts = new DbConnectionStringBuilder { ConnectionString = connectionString };
        var model = parts.TryGetValue("Model", out var m) ? m.ToString()! : defaultModel;
        var key = parts.TryGetValue("Key", out var k) ? k.ToString()! : "unused";
        var clientOptions = new OpenAIClientOptions { NetworkTimeout = networkTimeout ?? TimeSpan.FromMinutes(2), RetryPolicy = new ClientRetryPolicy(maxRetries: 0) };
        if (parts.TryGetValue("Endpoint", out var endpoint))
        {
            clientOptions.Endpoint = new Uri(endpoint.ToString()!);
        }

        return (model, key, clientOptions);
    }
}
