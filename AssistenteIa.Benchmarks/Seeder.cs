using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// Scenario 4's history: <c>count</c> finished tasks added by SQL to the benchmark database, copies of the tasks
/// already there (the ones run before) with their attempts, artifacts and any other row that has a <c>TaskId</c>.
/// Copies get new ids and times shifted back over the last 30 days; the outbox keeps sent rows for seven days (then the
/// purge deletes them), so only the copies of the last six days get outbox rows (4 per task today: three rows of events,
/// one save's events sharing a row, and the work message; about 0.8M rows for 1M tasks), as a running system would hold them. Column lists and indexes come from the catalogue, so the seed
/// follows the schema the migrations built.
/// <para>
/// Run while the services are stopped. Bulk-load speed on 2 cores: foreign-key triggers off for the loading sessions
/// (the copies point at tasks that exist), the indexes dropped during the load and rebuilt after it (a sort instead of
/// millions of random B-tree inserts), two loading sessions side by side, then VACUUM ANALYZE so the run does not
/// start with autovacuum or stale statistics. About 66 s for 1M tasks (4.2M rows, with 6 outbox rows a task) here.
/// </para>
/// </summary>
internal static class Seeder
{
    private const int SpreadSeconds = 30 * 24 * 3600;
    private const string OutboxKept = "m.shift < make_interval(days => 6)";
    private const string Map = "bench_seed_map";
    private const string Outbox = "OutboxMessages";

    /// <summary>A copied outbox row's id: a row of one save's events has an id ending in 0 (its events' ids end in 0, 1, …: TaskEventRows).</summary>
    private const string OutboxId =
        """CASE WHEN c."MessageType" = 'task.events-of-one-save' THEN overlay(gen_random_uuid()::text placing '0' from 36)::uuid ELSE gen_random_uuid() END""";

    public static async Task<(long Rows, TimeSpan Elapsed)> SeedAsync(int count)
    {
        var clock = Stopwatch.StartNew();
        await using var connection = await OpenAsync();

        // The templates: Succeeded tasks. Each copy maps to one template and gets its own time shift.
        // A plain (unlogged) table, not a temporary one: both loading sessions read it.
        await ExecuteAsync(connection, $"""
            DROP TABLE IF EXISTS {Map};
            CREATE UNLOGGED TABLE {Map} AS
            WITH template AS (SELECT "Id" AS id, (row_number() OVER (ORDER BY "CreatedAt") - 1)::int AS k FROM "Tasks" WHERE "Status" = 'Succeeded')
            SELECT gen_random_uuid() AS new_id, t.id AS template_id, make_interval(secs => 3600 + g::float8 * {SpreadSeconds} / {count}) AS shift
            FROM generate_series(0, {count - 1}) g JOIN template t ON t.k = g % NULLIF((SELECT count(*) FROM template), 0);
            CREATE INDEX ON {Map} (template_id);
            ANALYZE {Map};
            """);
        if (await ScalarAsync(connection, $"SELECT count(*) FROM {Map}") != count)
        {
            throw new InvalidOperationException("No Succeeded task to copy: seed after the warm-up.");
        }

        var children = await ChildTablesAsync(connection);
        string[] tables = ["Tasks", .. children];
        var indexes = await DropIndexesAsync(connection, tables);
        Console.WriteLine($"  dropped {indexes.Count} indexes ({clock.Elapsed.TotalSeconds:0.0} s)");

        // Two sessions, one per core: the tasks and attempts; the outbox and the other child tables.
        var rows = await Task.WhenAll(
            LoadAsync(["Tasks", .. children.Where(t => t == "TaskAttempts")]),
            LoadAsync([.. children.Where(t => t != "TaskAttempts")]));
        Console.WriteLine($"  loaded ({clock.Elapsed.TotalSeconds:0.0} s)");

        await ExecuteAsync(connection, "SET maintenance_work_mem = '512MB'");
        foreach (var sql in indexes)
        {
            await ExecuteAsync(connection, sql);
        }

        Console.WriteLine($"  rebuilt the indexes ({clock.Elapsed.TotalSeconds:0.0} s)");
        await ExecuteAsync(connection, $"DROP TABLE {Map}");
        foreach (var table in tables)
        {
            await ExecuteAsync(connection, $"""VACUUM (ANALYZE) "{table}" """);
        }

        Console.WriteLine($"  vacuumed ({clock.Elapsed.TotalSeconds:0.0} s)");
        return (rows.Sum(), clock.Elapsed);
    }

    /// <summary>One session copies these tables in turn, foreign-key triggers off.</summary>
    private static async Task<long> LoadAsync(string[] tables)
    {
        await using var connection = await OpenAsync();
        await ExecuteAsync(connection, "SET session_replication_role = replica; SET synchronous_commit = off; SET work_mem = '256MB'");
        var rows = 0L;
        foreach (var table in tables)
        {
            // Only outbox rows already sent (an unsent copy would be published), of the retention's last six days.
            rows += table == Outbox
                ? await CopyAsync(connection, table, "TaskId", """ AND c."SentAt" IS NOT NULL""", $" WHERE {OutboxKept}")
                : await CopyAsync(connection, table, table == "Tasks" ? "Id" : "TaskId", null, null);
        }

        return rows;
    }

    /// <summary>
    /// Drops the tables' indexes except those a foreign key depends on (the tasks' primary key) and returns the
    /// statements that rebuild them: constraints (primary keys, unique) with ALTER TABLE, plain indexes with their definition.
    /// </summary>
    private static async Task<List<string>> DropIndexesAsync(NpgsqlConnection connection, string[] tables)
    {
        var drops = new List<string>();
        var rebuilds = new List<string>();
        await using (var command = new NpgsqlCommand(
            """
            SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid), k.conname, pg_get_constraintdef(k.oid)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class c ON c.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')
            WHERE c.relname = ANY(@tables)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = x.indexrelid)
            """,
            connection))
        {
            command.Parameters.AddWithValue("tables", tables);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var (table, index) = (reader.GetString(0), reader.GetString(1));
                if (reader.IsDBNull(3))
                {
                    drops.Add($"""DROP INDEX "{index}" """);
                    rebuilds.Add(reader.GetString(2));
                }
                else
                {
                    drops.Add($"""ALTER TABLE "{table}" DROP CONSTRAINT "{reader.GetString(3)}" """);
                    rebuilds.Add($"""ALTER TABLE "{table}" ADD CONSTRAINT "{reader.GetString(3)}" {reader.GetString(4)}""");
                }
            }
        }

        foreach (var sql in drops)
        {
            await ExecuteAsync(connection, sql);
        }

        return rebuilds;
    }

    /// <summary>
    /// INSERT … SELECT of every template row of <paramref name="table"/> once per copy: <paramref name="key"/> takes
    /// the copy's task id, another uuid "Id" a new one, timestamps move back by the copy's shift, the rest is copied.
    /// </summary>
    private static async Task<long> CopyAsync(NpgsqlConnection connection, string table, string key, string? filter, string? copies)
    {
        var columns = new List<string>();
        var values = new List<string>();
        await using (var command = new NpgsqlCommand(
            """
            SELECT column_name, data_type, is_identity = 'YES' AND identity_generation = 'ALWAYS' OR is_generated = 'ALWAYS'
            FROM information_schema.columns WHERE table_schema = 'public' AND table_name = @table ORDER BY ordinal_position
            """,
            connection))
        {
            command.Parameters.AddWithValue("table", table);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var (name, type, generated) = (reader.GetString(0), reader.GetString(1), reader.GetBoolean(2));
                if (generated || (name == "Id" && name != key && type != "uuid"))
                {
                    continue; // the database numbers it
                }

                columns.Add($"\"{name}\"");
                values.Add(name == key ? "m.new_id"
                    : name == "Id" && table == Outbox ? OutboxId
                    : name == "Id" ? "gen_random_uuid()"
                    : type.StartsWith("timestamp", StringComparison.Ordinal) ? $"c.\"{name}\" - m.shift"
                    : $"c.\"{name}\"");
            }
        }

        // The template rows go to a side table first: read from the table being filled, a nested loop would rescan
        // its growing heap once per copy. Tasks go in id order: the primary key (kept) is then filled leaf after leaf.
        var source = $"bench_seed_{table.ToLowerInvariant()}";
        var clock = Stopwatch.StartNew();
        await ExecuteAsync(connection, $"""
            DROP TABLE IF EXISTS {source};
            CREATE UNLOGGED TABLE {source} AS SELECT c.* FROM "{table}" c WHERE c."{key}" IN (SELECT template_id FROM {Map}){filter};
            ANALYZE {source};
            """);
        var sql = $"""
            INSERT INTO "{table}" ({string.Join(", ", columns)})
            SELECT {string.Join(", ", values)} FROM {Map} m JOIN {source} c ON c."{key}" = m.template_id{copies}{(key == "Id" ? " ORDER BY m.new_id" : "")}
            """;
        await using var insert = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        var rows = await insert.ExecuteNonQueryAsync();
        await ExecuteAsync(connection, $"DROP TABLE {source}");
        Console.WriteLine($"  seeded {rows:N0} rows into {table} ({clock.Elapsed.TotalSeconds:0.0} s)");
        return rows;
    }

    private static async Task<List<string>> ChildTablesAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT c.table_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
            WHERE c.table_schema = 'public' AND c.column_name = 'TaskId' AND c.data_type = 'uuid' ORDER BY c.table_name
            """,
            connection);
        var tables = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            tables.Add(reader.GetString(0));
        }

        return tables;
    }

    private static async Task<NpgsqlConnection> OpenAsync()
    {
        // Not pooled: session settings (replication role, memory) must not leak to a later user of the connection.
        var connection = new NpgsqlConnection($"{Bench.ConnectionString(SystemUnderTest.Database)};Pooling=false");
        await connection.OpenAsync();
        return connection;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 600 };
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }
}
