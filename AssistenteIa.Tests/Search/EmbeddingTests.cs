using System.Numerics.Tensors;
using AssistenteIa.Infrastructure.Ai;
using AssistenteIaApi.ServiceB.Worker.Skills.Search;

namespace AssistenteIa.Tests.Search;

/// <summary>The local embedding, the chunker and the exact scan, without the app.</summary>
public sealed class EmbeddingTests
{
    [Fact]
    public void The_local_embedding_is_a_deterministic_unit_vector()
    {
        var first = HashedNgramEmbeddingGenerator.Embed("Refunds are paid back to the original card within five days.");
        var second = HashedNgramEmbeddingGenerator.Embed("Refunds are paid back to the original card within five days.");

        Assert.Equal(HashedNgramEmbeddingGenerator.Dimensions, first.Length);
        Assert.Equal(first, second);
        Assert.Equal(1f, TensorPrimitives.Norm(first), 3);
    }

    [Fact]
    public void Texts_sharing_words_or_word_forms_are_closer_than_unrelated_texts()
    {
        var query = HashedNgramEmbeddingGenerator.Embed("How do I get my money refunded?");
        var related = HashedNgramEmbeddingGenerator.Embed("Refunds: money is refunded to the card used for the payment.");
        var unrelated = HashedNgramEmbeddingGenerator.Embed("The office is closed on public holidays and weekends.");

        Assert.True(TensorPrimitives.Dot(query, related) > TensorPrimitives.Dot(query, unrelated) + 0.1f);
    }

    [Fact]
    public void Accents_are_folded_so_portuguese_matches_with_or_without_them()
    {
        var accented = HashedNgramEmbeddingGenerator.Embed("devolução do pagamento");
        var plain = HashedNgramEmbeddingGenerator.Embed("devolucao do pagamento");

        Assert.Equal(accented, plain);
    }

    [Fact]
    public void The_chunker_keeps_chunks_under_the_limit_covers_every_sentence_and_carries_one_sentence_over()
    {
        var sentences = Enumerable.Range(1, 40).Select(i => $"Sentence number {i} says something about topic {i % 7}.").ToList();

        var chunks = TextChunker.Split(string.Join(" ", sentences), maxChars: 200);

        Assert.True(chunks.Count > 5);
        Assert.All(chunks, c => Assert.True(c.Length <= 200, c));
        Assert.All(sentences, s => Assert.Contains(chunks, c => c.Contains(s, StringComparison.Ordinal)));
        for (var i = 1; i < chunks.Count; i++)
        {
            var lastOfPrevious = sentences.Last(s => chunks[i - 1].Contains(s, StringComparison.Ordinal));
            Assert.StartsWith(lastOfPrevious, chunks[i], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_sentence_longer_than_a_chunk_is_cut_at_spaces()
    {
        var longSentence = string.Join(' ', Enumerable.Repeat("word", 100));

        var chunks = TextChunker.Split(longSentence, maxChars: 60);

        Assert.All(chunks, c => Assert.True(c.Length <= 60 && !c.Contains("wo rd", StringComparison.Ordinal), c));
        Assert.Equal(100, chunks.Sum(c => c.Split(' ').Length));
    }

    [Fact]
    public void The_scan_returns_the_top_k_by_dot_product_best_first()
    {
        float[][] rows = [[1, 0], [0.6f, 0.8f], [0, 1], [-1, 0], [0.8f, 0.6f]];
        var flat = rows.SelectMany(r => r).ToArray();
        long[] ids = [10, 11, 12, 13, 14];

        var hits = CollectionVectorIndex.Scan(flat, ids, 2, [1, 0], topK: 3);

        Assert.Equal([10L, 14L, 11L], hits.Select(h => h.ChunkId));
        Assert.Equal([1f, 0.8f, 0.6f], hits.Select(h => h.Score));
    }
}
