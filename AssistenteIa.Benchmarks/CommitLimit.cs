using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// Scenario 1, the machine's commit limit: pgbench runs one-row inserts of a small jsonb (one commit each) from
/// 32 clients into a scratch database. Every other figure is reported as a ratio of it.
/// </summary>
internal static partial class CommitLimit
{
    private const string Database = "bench_commit_limit";

    public static async Task<Dictionary<string, double>> RunAsync(Options options)
    {
        var clients = options.Int("clients", 32);
        var seconds = options.Int("seconds", 10);
        await Bench.RecreateDatabaseAsync(Database);
        var script = Path.GetTempFileName();
        try
        {
            await Bench.ExecuteAsync(Database, "CREATE TABLE rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())");
            await File.WriteAllTextAsync(script, """INSERT INTO rows (body) VALUES ('{"type":"LLM_Generation","prompt":"Summarise the ticket","context":"The invoice is overdue."}');""" + "\n");
            var start = new ProcessStartInfo(options.Text("pgbench") ?? "/usr/bin/pgbench")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                // Without TLS, as every system measured here connects (Bench.Server).
                Environment = { ["PGPASSWORD"] = "007182", ["PGSSLMODE"] = "disable" },
            };
            foreach (var arg in new[] { "-h", "localhost", "-U", "postgres", "-n", "-c", $"{clients}", "-j", "2", "-T", $"{seconds}", "-f", script, Database })
            {
                start.ArgumentList.Add(arg);
            }

            using var pgbench = Process.Start(start)!;
            var errors = pgbench.StandardError.ReadToEndAsync();
            var output = await pgbench.StandardOutput.ReadToEndAsync();
            await pgbench.WaitForExitAsync();
            var tps = Tps().Match(output);
            if (pgbench.ExitCode != 0 || !tps.Success)
            {
                throw new InvalidOperationException($"pgbench failed ({pgbench.ExitCode}): {output}{await errors}");
            }

            Console.WriteLine($"commit limit: pgbench, {clients} clients, {seconds} s: {tps.Groups[1].Value} inserts/s");
            return new() { ["commitLimitPerSec"] = double.Parse(tps.Groups[1].Value, CultureInfo.InvariantCulture) };
        }
        finally
        {
            File.Delete(script);
            await Bench.DropDatabaseAsync(Database);
        }
    }

    [GeneratedRegex(@"tps = ([0-9.]+)")]
    private static partial Regex Tps();
}
