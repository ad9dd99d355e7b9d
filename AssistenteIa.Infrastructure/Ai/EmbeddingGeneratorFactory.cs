using System.ClientModel;
using AssistenteIa.Application;
using Microsoft.Extensions.AI;

namespace AssistenteIa.Infrastructure.Ai;

/// <summary>Chooses the embedding generator from <c>Ai:Provider</c>, like <see cref="ChatClientFactory"/> for chat.</summary>
public static class EmbeddingGeneratorFactory
{
    public const string DefaultOpenAiModel = "text-embedding-3-small";

    /// <param name="connectionString">For OpenAI: the same <c>Endpoint=…;Key=…</c> as chat; the model is <c>Ai:EmbeddingModel</c>.</param>
    public static IEmbeddingGenerator<string, Embedding<float>> Create(AiOptions options, string? connectionString)
    {
        if (options.Provider.Equals("Local", StringComparison.OrdinalIgnoreCase))
        {
            return new HashedNgramEmbeddingGenerator();
        }

        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException($"Ai:Provider is OpenAI but ConnectionStrings:{ChatClientFactory.ConnectionStringName} is not set (Endpoint=…;Key=…;Model=…).");
        }

        var (_, key, clientOptions) = ChatClientFactory.OpenAiConnection(connectionString, DefaultOpenAiModel, TimeSpan.FromMinutes(1));
        return new OpenAI.Embeddings.EmbeddingClient(options.EmbeddingModel ?? DefaultOpenAiModel, new ApiKeyCredential(key), clientOptions).AsIEmbeddingGenerator();
    }
}
