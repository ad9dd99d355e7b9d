using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Ai;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Search;

/// <summary>
/// Embedding_Search, two ways: a <c>document</c> is chunked, embedded and stored in its collection (replacing what an
/// earlier attempt of the same task stored); a <c>search</c> embeds the query and returns the collection's best
/// chunks by cosine similarity, compared only with vectors of the same embedding model.
/// </summary>
public sealed class EmbeddingSearchSkill(
    IEmbeddingGenerator<string, Embedding<float>> embeddings,
    AppDbContext db,
    CollectionVectorIndex index,
    IOptions<SearchOptions> options,
    TimeProvider clock) : ITaskSkill
{
    public CapabilityType Capability => CapabilityType.Embedding_Search;

    private string Model => embeddings.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId ?? "unknown";

    public Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken) => request.Payload switch
    {
        { Document: { } document } => AddAsync(request, document, cancellationToken),
        { Search: { } search } => SearchAsync(request, search, cancellationToken),
        _ => throw new TaskExecutionException(ErrorKind.Permanent, "InvalidPayload", "Embedding_Search needs a document or a search."),
    };

    private async Task<ExecutionResult> AddAsync(ExecutionRequest request, DocumentSpec document, CancellationToken cancellationToken)
    {
        var chunks = TextChunker.Split(document.Text);
        var (vectors, tokens) = await EmbedAsync(chunks, cancellationToken);
        var metadata = document.Metadata is null ? null : JsonSerializer.Serialize(document.Metadata, JsonDefaults.Options);
        var now = clock.GetUtcNow();

        var result = new { document.Collection, DocumentId = request.TaskId, Chunks = chunks.Count, Model, Dimensions = vectors.FirstOrDefault()?.Length ?? 0 };
        return new ExecutionResult([ArtifactOutput.Json("document", result)], new ExecutionUsage(Model, tokens, 0, chunks.Count, "chunks"))
        {
            // Stored with the success, in its transaction: a document whose task did not succeed is never searchable.
            CommitWithOutcome = ct => WriteChunksAsync(request, document.Collection, chunks, vectors, metadata, now, ct),
        };
    }

    /// <summary>
    /// Appends the document's chunks by COPY and counts them in its collection's row, on the connection and inside the
    /// transaction that records the task's success. Chunks are only ever appended (a task succeeds once), which the
    /// search index relies on.
    /// </summary>
    private async Task WriteChunksAsync(
        ExecutionRequest request, string collection, IReadOnlyList<string> chunks, List<float[]> vectors, string? metadata, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await using (var import = await connection.BeginBinaryImportAsync(
            """COPY "DocumentChunks" ("TenantId", "Collection", "DocumentId", "ChunkNo", "Text", "MetadataJson", "Model", "Embedding", "CreatedAt") FROM STDIN (FORMAT BINARY)""",
            cancellationToken))
        {
            for (var i = 0; i < chunks.Count; i++)
            {
                var chunk = DocumentChunk.Create(request.TenantId, collection, request.TaskId, i, chunks[i], metadata, Model, vectors[i], now);
                await import.StartRowAsync(cancellationToken);
                await import.WriteAsync(chunk.TenantId, NpgsqlDbType.Varchar, cancellationToken);
                await import.WriteAsync(chunk.Collection, NpgsqlDbType.Varchar, cancellationToken);
                await import.WriteAsync(chunk.DocumentId, NpgsqlDbType.Uuid, cancellationToken);
                await import.WriteAsync(chunk.ChunkNo, NpgsqlDbType.Integer, cancellationToken);
                await import.WriteAsync(chunk.Text, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(chunk.MetadataJson, NpgsqlDbType.Jsonb, cancellationToken);
                await import.WriteAsync(chunk.Model, NpgsqlDbType.Varchar, cancellationToken);
                await import.WriteAsync(chunk.Embedding, NpgsqlDbType.Array | NpgsqlDbType.Real, cancellationToken);
                await import.WriteAsync(chunk.CreatedAt, NpgsqlDbType.TimestampTz, cancellationToken);
            }

            await import.CompleteAsync(cancellationToken);
        }

        // A search index that sees this version sees exactly these chunks.
        await using var count = new NpgsqlCommand(
            """
            INSERT INTO "SearchCollections" ("TenantId", "Name", "Model", "Documents", "Chunks", "Version", "UpdatedAt") VALUES ($1, $2, $3, 1, $4, 1, $5)
            ON CONFLICT ("TenantId", "Name", "Model") DO UPDATE
            SET "Documents" = "SearchCollections"."Documents" + 1, "Chunks" = "SearchCollections"."Chunks" + $4,
                "Version" = "SearchCollections"."Version" + 1, "UpdatedAt" = $5
            """,
            connection);
        count.Parameters.Add(new NpgsqlParameter { Value = request.TenantId });
        count.Parameters.Add(new NpgsqlParameter { Value = collection });
        count.Parameters.Add(new NpgsqlParameter { Value = Model });
        count.Parameters.Add(new NpgsqlParameter { Value = chunks.Count });
        count.Parameters.Add(new NpgsqlParameter { Value = now });
        await count.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<ExecutionResult> SearchAsync(ExecutionRequest request, SearchSpec search, CancellationToken cancellationToken)
    {
        var (vectors, tokens) = await EmbedAsync([search.Query], cancellationToken);
        var connection = await OpenAsync(cancellationToken);
        List<object> results;
        try
        {
            var hits = await index.SearchAsync(connection, request.TenantId, search.Collection, Model, vectors[0], search.TopK, cancellationToken);
            results = await DescribeAsync(connection, hits, cancellationToken);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }

        var result = new { search.Collection, search.Query, Model, Results = results };
        return new ExecutionResult([ArtifactOutput.Json("results", result)], new ExecutionUsage(Model, tokens, 0, 1, "queries"));
    }

    /// <summary>The hits' texts and documents, in rank order.</summary>
    private static async Task<List<object>> DescribeAsync(NpgsqlConnection connection, IReadOnlyList<VectorHit> hits, CancellationToken cancellationToken)
    {
        var rows = new Dictionary<long, (Guid DocumentId, int ChunkNo, string Text, string? Metadata)>();
        await using (var command = new NpgsqlCommand("""SELECT "Id", "DocumentId", "ChunkNo", "Text", "MetadataJson" FROM "DocumentChunks" WHERE "Id" = ANY($1)""", connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = hits.Select(h => h.ChunkId).ToArray() });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows[reader.GetInt64(0)] = (reader.GetGuid(1), reader.GetInt32(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4));
            }
        }

        return hits.Where(h => rows.ContainsKey(h.ChunkId)).Select((hit, rank) =>
        {
            var row = rows[hit.ChunkId];
            return (object)new
            {
                Rank = rank + 1,
                Score = Math.Round(hit.Score, 6),
                row.DocumentId,
                row.ChunkNo,
                row.Text,
                Metadata = row.Metadata is null ? (JsonElement?)null : JsonSerializer.Deserialize<JsonElement>(row.Metadata),
            };
        }).ToList();
    }

    private async Task<(List<float[]> Vectors, long Tokens)> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken)
    {
        var vectors = new List<float[]>(texts.Count);
        long tokens = 0;
        try
        {
            foreach (var batch in texts.Chunk(options.Value.EmbeddingBatchSize))
            {
                var generated = await embeddings.GenerateAsync(batch, cancellationToken: cancellationToken);
                if (generated.Count != batch.Length)
                {
                    throw new TaskExecutionException(ErrorKind.Transient, "InvalidResponse", "The embedding model returned a different number of vectors than texts sent.");
                }

                vectors.AddRange(generated.Select(e => Normalised(e.Vector.ToArray())));
                tokens += generated.Usage?.InputTokenCount ?? 0;
            }
        }
        catch (Exception ex) when (ex is not TaskExecutionException && ChatClientTaskExecutor.Classify(ex) is { } kind && !cancellationToken.IsCancellationRequested)
        {
            throw new TaskExecutionException(kind.Kind, kind.Code, "The embedding model failed: " + kind.Code + ".", new ExecutionUsage(Model, tokens, 0), ex);
        }

        return (vectors, tokens);
    }

    /// <summary>Providers' vectors are usually unit length already; making sure keeps a dot product a cosine.</summary>
    private static float[] Normalised(float[] vector)
    {
        var norm = System.Numerics.Tensors.TensorPrimitives.Norm(vector);
        if (norm > 0 && Math.Abs(norm - 1) > 1e-4)
        {
            System.Numerics.Tensors.TensorPrimitives.Divide(vector, norm, vector);
        }

        return vector;
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        await db.Database.OpenConnectionAsync(cancellationToken);
        return (NpgsqlConnection)db.Database.GetDbConnection();
    }
}
