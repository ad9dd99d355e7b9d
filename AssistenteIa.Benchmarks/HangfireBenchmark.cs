using System.Diagnostics;
using Hangfire;
using Hangfire.PostgreSql;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// Scenario 4a, the peer: Hangfire (Hangfire.Core + Hangfire.PostgreSql) on the same Postgres, in a scratch database,
/// with as many workers as ServiceB's concurrency. Producers enqueue no-op jobs while the server runs them;
/// enqueue rate, and end to end = jobs / time from the first enqueue until all Succeeded.
/// </summary>
internal static class HangfireBenchmark
{
    private const string Database = "bench_hangfire";

    public static async Task<Dictionary<string, double>> RunAsync(Options options)
    {
        var jobs = options.Int("jobs", 5000);
        var workers = options.Int("workers", 2);
        var producers = options.Int("producers", 4);
        await Bench.RecreateDatabaseAsync(Database);
        try
        {
            var storage = GlobalConfiguration.Configuration
                .UsePostgreSqlStorage(
                    connection => connection.UseNpgsqlConnection(Bench.ConnectionString(Database)),
                    new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = true, QueuePollInterval = TimeSpan.FromMilliseconds(100) })
                .Entry;
            var client = new BackgroundJobClient(storage);
            var monitoring = storage.GetMonitoringApi();
            Console.WriteLine($"hangfire: {jobs} no-op jobs, {producers} producers, {workers} workers");

            using var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = workers }, storage);
            var clock = Stopwatch.StartNew();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, producers).Select(_ => Task.Run(() =>
            {
                while (Interlocked.Increment(ref next) < jobs)
                {
                    client.Enqueue(() => NoopJob.Run());
                }
            })));
            var enqueued = clock.Elapsed;

            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(10));
            while (monitoring.SucceededListCount() < jobs)
            {
                await Task.Delay(50, deadline.Token);
            }

            var done = clock.Elapsed;
            server.SendStop();
            return new()
            {
                ["hangfireJobs"] = jobs,
                ["hangfireWorkers"] = workers,
                ["hangfireEnqueuePerSec"] = jobs / enqueued.TotalSeconds,
                ["hangfirePerSec"] = jobs / done.TotalSeconds,
            };
        }
        finally
        {
            await Bench.DropDatabaseAsync(Database);
        }
    }
}

/// <summary>The job Hangfire runs: nothing, so what is measured is the queue.</summary>
public static class NoopJob
{
    public static void Run()
    {
    }
}
