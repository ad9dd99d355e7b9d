using System.Collections.Concurrent;
using System.Data;
using System.Numerics.Tensors;
using Microsoft.Extensions.Options;
using Npgsql;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Search;

/// <summary>A chunk found by a search: its row id and its cosine similarity to the query.</summary>
public readonly record struct VectorHit(long ChunkId, float Score);

/// <summary>
/// Exact nearest-neighbour search over a collection's vectors (no pgvector on this server): the vectors of each
/// (tenant, collection, model) are kept in one contiguous array in memory and scanned with SIMD dot products, which
/// for unit vectors is the cosine. Before each search the index asks the database, in one snapshot, how many chunks
/// there are and reads only those with a larger id than it has; if the counts then disagree (a document was
/// re-embedded, or a lower id committed late) it reloads the collection. So a search always sees every committed
/// chunk, and a warm search does one small query. Collections larger than the memory budget are streamed from the
/// database instead.
/// </summary>
public sealed class CollectionVectorIndex(IOptions<SearchOptions> options)
{
    private readonly ConcurrentDictionary<(string Tenant, string Collection, string Model), Entry> _entries = new();

    public async Task<IReadOnlyList<VectorHit>> SearchAsync(
        NpgsqlConnection connection, string tenantId, string collection, string model, float[] query, int topK, CancellationToken cancellationToken)
    {
        var entry = _entries.GetOrAdd((tenantId, collection, model), _ => new Entry());
        await entry.Lock.WaitAsync(cancellationToken);
        try
        {
            entry.LastUsed = Environment.TickCount64;
            var fits = await RefreshAsync(connection, entry, tenantId, collection, model, query.Length, cancellationToken);
            if (fits)
            {
                return Scan(entry.Vectors.AsSpan(0, entry.Count * entry.Dimensions), entry.Ids.AsSpan(0, entry.Count), entry.Dimensions, query, topK);
            }
        }
        finally
        {
            entry.Lock.Release();
        }

        return await StreamScanAsync(connection, tenantId, collection, model, query, topK, cancellationToken);
    }

    /// <summary>Brings the entry up to date; false when the collection is over the memory budget (the entry is then emptied).</summary>
    private async Task<bool> RefreshAsync(NpgsqlConnection connection, Entry entry, string tenantId, string collection, string model, int dimensions, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        var (count, version) = await VersionAsync(connection, tenantId, collection, model, cancellationToken);
        if (version == entry.Version && count == entry.Count)
        {
            return true;
        }

        // Judged before loading, by the query's dimensions (the model's): a collection over the budget is never loaded.
        if (count * (long)dimensions > options.Value.MaxCachedFloats)
        {
            entry.Clear();
            return false;
        }

        if (!await LoadAsync(connection, entry, tenantId, collection, model, entry.MaxId, cancellationToken) || entry.Count != count)
        {
            entry.Clear();
            await LoadAsync(connection, entry, tenantId, collection, model, after: 0, cancellationToken);
        }

        if (entry.Count * (long)entry.Dimensions > options.Value.MaxCachedFloats)
        {
            entry.Clear();
            return false;
        }

        entry.Version = version;
        EvictOthers(entry);
        return true;
    }

    /// <summary>The collection's chunk count and version; (0, 0) when it has none.</summary>
    private static async Task<(int Count, long Version)> VersionAsync(NpgsqlConnection connection, string tenantId, string collection, string model, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """SELECT "Chunks", "Version" FROM "SearchCollections" WHERE "TenantId" = $1 AND "Name" = $2 AND "Model" = $3""", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = tenantId });
        command.Parameters.Add(new NpgsqlParameter { Value = collection });
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt32(0), reader.GetInt64(1)) : (0, 0);
    }

    /// <summary>Appends the chunks with an id above <paramref name="after"/>; false when their dimensions differ from the entry's.</summary>
    private static async Task<bool> LoadAsync(NpgsqlConnection connection, Entry entry, string tenantId, string collection, string model, long after, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """SELECT "Id", "Embedding" FROM "DocumentChunks" WHERE "TenantId" = $1 AND "Collection" = $2 AND "Model" = $3 AND "Id" > $4 ORDER BY "Id" """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = tenantId });
        command.Parameters.Add(new NpgsqlParameter { Value = collection });
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        command.Parameters.Add(new NpgsqlParameter { Value = after });
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var id = reader.GetInt64(0);
            var vector = reader.GetFieldValue<float[]>(1);
            if (!entry.Append(id, vector))
            {
                return false;
            }
        }

        return true;
    }

    private static async Task<IReadOnlyList<VectorHit>> StreamScanAsync(
        NpgsqlConnection connection, string tenantId, string collection, string model, float[] query, int topK, CancellationToken cancellationToken)
    {
        var best = new PriorityQueue<VectorHit, float>();
        await using var command = new NpgsqlCommand(
            """SELECT "Id", "Embedding" FROM "DocumentChunks" WHERE "TenantId" = $1 AND "Collection" = $2 AND "Model" = $3""", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = tenantId });
        command.Parameters.Add(new NpgsqlParameter { Value = collection });
        command.Parameters.Add(new NpgsqlParameter { Value = model });
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var id = reader.GetInt64(0);
            var vector = reader.GetFieldValue<float[]>(1);
            if (vector.Length == query.Length)
            {
                Offer(best, new VectorHit(id, TensorPrimitives.Dot(vector, query)), topK);
            }
        }

        return Ranked(best);
    }

    /// <summary>The <paramref name="topK"/> best dot products of <paramref name="query"/> with each row of <paramref name="vectors"/>.</summary>
    public static IReadOnlyList<VectorHit> Scan(ReadOnlySpan<float> vectors, ReadOnlySpan<long> ids, int dimensions, ReadOnlySpan<float> query, int topK)
    {
        var best = new PriorityQueue<VectorHit, float>();
        if (query.Length != dimensions)
        {
            return [];
        }

        for (var i = 0; i < ids.Length; i++)
        {
            Offer(best, new VectorHit(ids[i], TensorPrimitives.Dot(vectors.Slice(i * dimensions, dimensions), query)), topK);
        }

        return Ranked(best);
    }

    private static void Offer(PriorityQueue<VectorHit, float> best, VectorHit hit, int topK)
    {
        if (best.Count < topK)
        {
            best.Enqueue(hit, hit.Score);
        }
        else if (best.TryPeek(out _, out var worst) && hit.Score > worst)
        {
            best.EnqueueDequeue(hit, hit.Score);
        }
    }

    /// <summary>Best first; equal scores by the older chunk first, so results are stable.</summary>
    private static List<VectorHit> Ranked(PriorityQueue<VectorHit, float> best) =>
        best.UnorderedItems.Select(i => i.Element).OrderByDescending(h => h.Score).ThenBy(h => h.ChunkId).ToList();

    /// <summary>Drops the least recently used other collections while the total is over the budget.</summary>
    private void EvictOthers(Entry current)
    {
        var total = _entries.Values.Sum(e => (long)e.Count * e.Dimensions);
        foreach (var (key, entry) in _entries.Where(e => !ReferenceEquals(e.Value, current)).OrderBy(e => e.Value.LastUsed).ToList())
        {
            if (total <= options.Value.MaxCachedFloats)
            {
                break;
            }

            if (entry.Lock.Wait(0))
            {
                try
                {
                    total -= (long)entry.Count * entry.Dimensions;
                    entry.Clear();
                    _entries.TryRemove(key, out _);
                }
                finally
                {
                    entry.Lock.Release();
                }
            }
        }
    }

    private sealed class Entry
    {
        public SemaphoreSlim Lock { get; } = new(1, 1);
        public long LastUsed { get; set; }
        public long Version { get; set; }
        public int Dimensions { get; private set; }
        public int Count { get; private set; }
        public long MaxId { get; private set; }
        public float[] Vectors { get; private set; } = [];
        public long[] Ids { get; private set; } = [];

        public bool Append(long id, float[] vector)
        {
            if (Count == 0)
            {
                Dimensions = vector.Length;
            }
            else if (vector.Length != Dimensions)
            {
                return false;
            }

            if (Count == Ids.Length)
            {
                var capacity = Math.Max(1024, Ids.Length * 2);
                var ids = new long[capacity];
                var vectors = new float[(long)capacity * Dimensions];
                Ids.AsSpan(0, Count).CopyTo(ids);
                Vectors.AsSpan(0, Count * Dimensions).CopyTo(vectors);
                (Ids, Vectors) = (ids, vectors);
            }

            vector.CopyTo(Vectors.AsSpan(Count * Dimensions));
            Ids[Count++] = id;
            MaxId = Math.Max(MaxId, id);
            return true;
        }

        public void Clear()
        {
            (Count, MaxId, Dimensions, Version) = (0, 0, 0, 0);
            (Ids, Vectors) = ([], []);
        }
    }
}
