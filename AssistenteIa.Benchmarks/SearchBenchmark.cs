using System.Diagnostics;
using AssistenteIa.Infrastructure.Ai;
using AssistenteIaApi.ServiceB.Worker.Skills.Search;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// Embedding_Search at size (issue 11: 100,000 chunks in under 100 ms): seeds N chunks of generated text, embedded with
/// the local embedding, into a scratch DocumentChunks table, then times ServiceB's index as a search runs it: the
/// query's embedding, the freshness check against the database and the exact scan. The first search loads the vectors
/// (reported as cold); the rest are warm.
/// </summary>
internal static class SearchBenchmark
{
    private const string Database = "assistenteia_bench_search";

    private static readonly string[] Vocabulary =
    [
        "invoice", "payment", "refund", "card", "bank", "order", "delivery", "address", "password", "account", "login", "error",
        "timeout", "server", "database", "report", "customer", "ticket", "priority", "contract", "renewal", "discount", "price",
        "tax", "shipping", "warehouse", "stock", "supplier", "audit", "compliance", "policy", "holiday", "office", "meeting",
        "schedule", "deadline", "budget", "forecast", "revenue", "expense", "salary", "bonus", "vacation", "laptop", "printer",
        "network", "backup", "restore", "upgrade", "license", "cliente", "pagamento", "fatura", "entrega", "senha", "conta",
    ];

    public static async Task<Dictionary<string, double>> RunAsync(Options options)
    {
        var chunks = options.Int("chunks", 100_000);
        var queries = options.Int("queries", 50);
        await Bench.RecreateDatabaseAsync(Database);
        try
        {
            await using var connection = new NpgsqlConnection(Bench.ConnectionString(Database));
            await connection.OpenAsync();
            var seeded = Stopwatch.StartNew();
            await SeedAsync(connection, chunks);
            var seedSeconds = seeded.Elapsed.TotalSeconds;

            var index = new CollectionVectorIndex(Microsoft.Extensions.Options.Options.Create(new SearchOptions()));
            var random = new Random(7);
            var cold = await TimeSearchAsync(index, connection, Sentence(random, 8));
            var warm = new List<double>(queries);
            for (var i = 0; i < queries; i++)
            {
                warm.Add(await TimeSearchAsync(index, connection, Sentence(random, 8)));
            }

            Console.WriteLine($"[search] {chunks} chunks seeded in {seedSeconds:0.0} s; cold search {cold:0.0} ms; warm p50 {Bench.Percentile(warm, 50):0.0} ms, p99 {Bench.Percentile(warm, 99):0.0} ms");
            return new Dictionary<string, double>
            {
                ["searchChunks"] = chunks,
                ["searchSeedSeconds"] = seedSeconds,
                ["searchColdMs"] = cold,
                ["searchP50Ms"] = Bench.Percentile(warm, 50),
                ["searchP99Ms"] = Bench.Percentile(warm, 99),
            };
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await Bench.DropDatabaseAsync(Database);
        }
    }

    private static async Task<double> TimeSearchAsync(CollectionVectorIndex index, NpgsqlConnection connection, string query)
    {
        var watch = Stopwatch.StartNew();
        var vector = HashedNgramEmbeddingGenerator.Embed(query);
        var hits = await index.SearchAsync(connection, "bench", "kb", HashedNgramEmbeddingGenerator.ModelName, vector, 10, CancellationToken.None);
        if (hits.Count != 10)
        {
            throw new InvalidOperationException($"The search found {hits.Count} chunks, not 10.");
        }

        return watch.Elapsed.TotalMilliseconds;
    }

    /// <summary>The columns the index reads, as the migration makes them, filled by COPY.</summary>
    private static async Task SeedAsync(NpgsqlConnection connection, int chunks)
    {
        await using (var create = new NpgsqlCommand(
            """
            CREATE TABLE "DocumentChunks" (
                "Id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "TenantId" varchar(64) NOT NULL, "Collection" varchar(100) NOT NULL,
                "DocumentId" uuid NOT NULL, "ChunkNo" int NOT NULL, "Text" text NOT NULL, "MetadataJson" jsonb, "Model" varchar(200) NOT NULL,
                "Embedding" real[] NOT NULL, "CreatedAt" timestamptz NOT NULL);
            CREATE INDEX ON "DocumentChunks" ("TenantId", "Collection", "Model", "Id");
            CREATE TABLE "SearchCollections" (
                "TenantId" varchar(64), "Name" varchar(100), "Model" varchar(200), "Documents" int NOT NULL, "Chunks" int NOT NULL,
                "Version" bigint NOT NULL, "UpdatedAt" timestamptz NOT NULL, PRIMARY KEY ("TenantId", "Name", "Model"));
            """,
            connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        var random = new Random(42);
        await using var import = await connection.BeginBinaryImportAsync(
            """COPY "DocumentChunks" ("TenantId", "Collection", "DocumentId", "ChunkNo", "Text", "Model", "Embedding", "CreatedAt") FROM STDIN (FORMAT BINARY)""");
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < chunks; i++)
        {
            var text = Sentence(random, 40);
            await import.StartRowAsync();
            await import.WriteAsync("bench", NpgsqlDbType.Varchar);
            await import.WriteAsync("kb", NpgsqlDbType.Varchar);
            await import.WriteAsync(Guid.CreateVersion7(now), NpgsqlDbType.Uuid);
            await import.WriteAsync(0, NpgsqlDbType.Integer);
            await import.WriteAsync(text, NpgsqlDbType.Text);
            await import.WriteAsync(HashedNgramEmbeddingGenerator.ModelName, NpgsqlDbType.Varchar);
            await import.WriteAsync(HashedNgramEmbeddingGenerator.Embed(text), NpgsqlDbType.Array | NpgsqlDbType.Real);
            await import.WriteAsync(now, NpgsqlDbType.TimestampTz);
        }

        await import.CompleteAsync();
        await import.DisposeAsync();

        await using var count = new NpgsqlCommand(
            """INSERT INTO "SearchCollections" VALUES ('bench', 'kb', $1, $2, $2, 1, now())""", connection);
        count.Parameters.Add(new NpgsqlParameter { Value = HashedNgramEmbeddingGenerator.ModelName });
        count.Parameters.Add(new NpgsqlParameter { Value = chunks });
        await count.ExecuteNonQueryAsync();
    }

    private static string Sentence(Random random, int words) => string.Join(' ', Enumerable.Range(0, words).Select(_ => Vocabulary[random.Next(Vocabulary.Length)]));
}
