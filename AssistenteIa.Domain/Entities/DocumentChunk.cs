namespace AssistenteIa.Domain.Entities;

/// <summary>
/// A piece of a document added to a tenant's collection, with its embedding (table <c>DocumentChunks</c>, vectors in a
/// <c>real[]</c> column). Written by the Embedding_Search skill; the document's id is the id of the task that added it.
/// </summary>
public sealed class DocumentChunk
{
    public const int MaxCollectionLength = 100;

    private DocumentChunk()
    {
    }

    /// <summary>Increasing: a search index loads only the chunks added since it last looked.</summary>
    public long Id { get; private set; }
    public string TenantId { get; private set; } = "";
    public string Collection { get; private set; } = "";
    public Guid DocumentId { get; private set; }
    public int ChunkNo { get; private set; }
    public string Text { get; private set; } = "";

    /// <summary>The document's metadata as given (JSON object), repeated on each chunk so a hit needs no join.</summary>
    public string? MetadataJson { get; private set; }

    /// <summary>The embedding model: vectors of different models are never compared.</summary>
    public string Model { get; private set; } = "";
    public float[] Embedding { get; private set; } = [];
    public DateTimeOffset CreatedAt { get; private set; }

    public static DocumentChunk Create(string tenantId, string collection, Guid documentId, int chunkNo, string text, string? metadataJson, string model, float[] embedding, DateTimeOffset now) => new()
    {
        TenantId = tenantId,
        Collection = collection,
        DocumentId = documentId,
        ChunkNo = chunkNo,
        Text = Texts.WithoutNul(text),
        MetadataJson = metadataJson,
        Model = Texts.Fit(model, TaskAttempt.MaxModelLength),
        Embedding = embedding,
        CreatedAt = now,
    };
}
