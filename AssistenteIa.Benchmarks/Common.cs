using System.Globalization;
using Npgsql;

namespace AssistenteIa.Benchmarks;

/// <summary>"--name value" pairs after the scenario name.</summary>
internal sealed class Options(Dictionary<string, string> values)
{
    public static Options Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        return new Options(values);
    }

    public string? Text(string name) => values.GetValueOrDefault(name);

    public int Int(string name, int fallback) => values.TryGetValue(name, out var value) ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;
}

/// <summary>The local Postgres of scripts/infra.sh, scratch databases and percentiles.</summary>
internal static class Bench
{
    /// <summary>
    /// Without TLS, as the services reach a database on their own machine by default (<c>TuneConnectionString</c>):
    /// Hangfire and the lean loop connect the same way, so the peers pay for what the system pays for.
    /// </summary>
    public const string Server = "Host=localhost;Port=5432;Username=postgres;Password=007182;SSL Mode=Disable";

    /// <summary>CPU time the machine spent busy (user, nice, system, irq, softirq over all cores, from /proc/stat); null elsewhere.</summary>
    public static TimeSpan? MachineCpuTime()
    {
        if (!File.Exists("/proc/stat"))
        {
            return null;
        }

        // "cpu  user nice system idle iowait irq softirq steal ..." in clock ticks (USER_HZ, 100 on Linux).
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var busy = new[] { 1, 2, 3, 6, 7 }.Sum(i => long.Parse(fields[i], CultureInfo.InvariantCulture));
        return TimeSpan.FromSeconds(busy / 100.0);
    }

    public static string ConnectionString(string database) => $"{Server};Database={database}";

    public static async Task RecreateDatabaseAsync(string database)
    {
        await DropDatabaseAsync(database);
        await AdminAsync($"CREATE DATABASE {database}");
    }

    public static Task DropDatabaseAsync(string database) => AdminAsync($"DROP DATABASE IF EXISTS {database} WITH (FORCE)");

    public static async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The value at <paramref name="percentile"/> (0–100) of <paramref name="values"/>, nearest rank.</summary>
    public static double Percentile(IReadOnlyList<double> values, double percentile)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    private static async Task AdminAsync(string sql)
    {
        // Pooling off: a pooled idle connection to a dropped database would linger.
        await using var connection = new NpgsqlConnection($"{Server};Database=postgres;Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
