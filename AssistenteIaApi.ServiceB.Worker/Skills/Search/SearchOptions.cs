using System.ComponentModel.DataAnnotations;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Search;

/// <summary>Section <c>Search</c>: how much memory the vector index of ServiceB may hold.</summary>
public sealed class SearchOptions
{
    public const string Section = "Search";

    /// <summary>Floats kept in memory across collections (default 64 M = 256 MiB); a collection larger than this is scanned from the database on each search.</summary>
    [Range(1_000, 2_000_000_000)]
    public long MaxCachedFloats { get; set; } = 64_000_000;

    /// <summary>Texts embedded per call to the embedding model.</summary>
    [Range(1, 2048)]
    public int EmbeddingBatchSize { get; set; } = 64;
}
