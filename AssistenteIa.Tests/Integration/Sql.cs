using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>One-off statements against a test database; parameters are named <c>@p0</c>, <c>@p1</c>…</summary>
public static class Sql
{
    public static async Task<T> ScalarAsync<T>(string connectionString, string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (value, index) in parameters.Select((p, i) => (p, i)))
        {
            command.Parameters.AddWithValue($"p{index}", value);
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Takes a lock on <paramref name="table"/> in <paramref name="mode"/> (<c>SHARE</c>, <c>ACCESS EXCLUSIVE</c>…) in a
    /// transaction of its own, held until <see cref="TableLock.ReleaseAsync"/> or disposal: what a test holds a write or
    /// a read of the system under test with, at a known point.
    /// </summary>
    public static async Task<TableLock> LockAsync(string connectionString, string table, string mode)
    {
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        await using (var command = new NpgsqlCommand($"""LOCK TABLE "{table}" IN {mode} MODE""", connection, transaction))
        {
            await command.ExecuteNonQueryAsync();
        }

        return new TableLock(connectionString, table, connection, transaction);
    }

    public sealed class TableLock(string connectionString, string table, NpgsqlConnection connection, NpgsqlTransaction transaction) : IAsyncDisposable
    {
        /// <summary>Waits until a session of this database waits for a lock on the table (deadline 30 s).</summary>
        public Task WaitUntilWaitedOnAsync(string what) => Eventually.UntilAsync(
            () => ScalarAsync<long>(
                connectionString,
                """
                SELECT count(*) FROM pg_locks
                WHERE NOT granted AND locktype = 'relation' AND relation = @p0::regclass
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """,
                $"\"{table}\""),
            waiting => waiting > 0,
            TimeSpan.FromSeconds(30),
            what);

        private bool _released;

        public async Task ReleaseAsync()
        {
            if (!_released)
            {
                _released = true;
                await transaction.RollbackAsync();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await ReleaseAsync();
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }
}
