using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Numerics.Tensors;
using System.Text;
using Microsoft.Extensions.AI;

namespace AssistenteIa.Infrastructure.Ai;

/// <summary>
/// The local embedding: feature hashing (the "hashing trick") of a text's words, word pairs and character trigrams into
/// a fixed number of dimensions, with a sign per feature so collisions cancel out on average, sub-linear term weights,
/// and L2 normalisation so a dot product is the cosine. It needs no weights and no network. It is lexical: texts score
/// high when they share words or word pieces ("refund", "refunds", "refunded" share trigrams; accents are folded), not
/// when they mean the same thing in other words. Deterministic across processes and versions: the hash is XxHash32
/// with a fixed seed, so stored vectors stay comparable.
/// </summary>
public sealed class HashedNgramEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    public const string ModelName = "local-hashed-ngrams-v1";
    public const int Dimensions = 256;

    private const float WordWeight = 1.0f;
    private const float PairWeight = 0.5f;
    private const float TrigramWeight = 0.25f;

    private static readonly HashSet<string> StopWords =
    [
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "of", "on", "or", "that", "the", "this", "to", "was", "with",
        "o", "os", "as", "um", "uma", "de", "do", "da", "dos", "das", "e", "em", "no", "na", "para", "por", "que", "com",
    ];

    private readonly EmbeddingGeneratorMetadata _metadata = new("local", null, ModelName, Dimensions);

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var embeddings = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var value in values)
        {
            cancellationToken.ThrowIfCancellationRequested();
            embeddings.Add(new Embedding<float>(Embed(value)) { ModelId = ModelName, CreatedAt = DateTimeOffset.UtcNow });
        }

        return Task.FromResult(embeddings);
    }

    public static float[] Embed(string text)
    {
        var counts = new Dictionary<string, (float Weight, int Count)>(StringComparer.Ordinal);
        var words = Words(text);
        for (var i = 0; i < words.Count; i++)
        {
            var word = words[i];
            if (!StopWords.Contains(word))
            {
                Count(counts, "w:" + word, WordWeight);
            }

            if (i + 1 < words.Count)
            {
                Count(counts, "p:" + word + " " + words[i + 1], PairWeight);
            }

            var padded = "#" + word + "#";
            for (var j = 0; j + 3 <= padded.Length; j++)
            {
                Count(counts, string.Concat("t:", padded.AsSpan(j, 3)), TrigramWeight);
            }
        }

        var vector = new float[Dimensions];
        Span<byte> hash = stackalloc byte[4];
        foreach (var (feature, (weight, count)) in counts)
        {
            XxHash32.Hash(Encoding.UTF8.GetBytes(feature), hash, seed: 0x5EED);
            var bits = BinaryPrimitives.ReadUInt32LittleEndian(hash);
            var index = (int)(bits % Dimensions);
            var sign = (bits & 0x8000_0000) == 0 ? 1f : -1f;

            // Sub-linear: a word said ten times is not ten times as relevant.
            vector[index] += sign * weight * (1 + MathF.Log(count));
        }

        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0)
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }

        return vector;
    }

    private static void Count(Dictionary<string, (float Weight, int Count)> counts, string feature, float weight) =>
        counts[feature] = counts.TryGetValue(feature, out var existing) ? (weight, existing.Count + 1) : (weight, 1);

    /// <summary>Lower-case words of letters and digits, accents folded (ação → acao).</summary>
    private static List<string> Words(string text)
    {
        var folded = new StringBuilder(text.Length);
        foreach (var c in text.Normalize(NormalizationForm.FormD))
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark)
            {
                folded.Append(char.IsLetterOrDigit(c) ? char.ToLowerInvariant(c) : ' ');
            }
        }

        return folded.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
        : null;

    public void Dispose()
    {
    }
}
