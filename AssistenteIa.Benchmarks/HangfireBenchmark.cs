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
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(10));

            // Warmed up like the system under test (JIT, connection pool), then measured.
            var warmup = options.Int("warmup", 0);
            if (warmup > 0)
            {
                await RunJobsAsync(client, monitoring, warmup, producers, 0, deadline.Token);
            }

            var (enqueued, done) = await RunJobsAsync(client, monitoring, jobs, producers, warmup, deadline.Token);
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

    /// <summary>Enqueues <paramref name="jobs"/> no-op jobs from several producers; the time to enqueue them and until all ran.</summary>
    private static async Task<(TimeSpan Enqueued, TimeSpan Done)> RunJobsAsync(
        BackgroundJobClient client, Hangfire.Storage.IMonitoringApi monitoring, int jobs, int producers, long succeededBefore, CancellationToken cancellationToken)
    {
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
        while (monitoring.SucceededListCount() < succeededBefore + jobs)
        {
            await Task.Delay(50, cancellationToken);
        }

        return (enqueued, clock.Elapsed);
    }
}

/// <summary>The job Hangfire runs: nothing, so what is measured is the queue.</summary>
public static class NoopJob
{
    public static void Run()
    {
    }
}
