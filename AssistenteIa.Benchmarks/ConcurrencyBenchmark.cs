using System.Diagnostics;
using System.Globalization;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// Worker concurrency with a slow model (issue 10, "Also"): for each of <c>--levels</c> (e.g. 1,8,32) the system starts
/// with one ServiceB at that <c>Worker:MaxConcurrency</c>, and tasks whose Local model takes <c>--latency-ms</c> (500)
/// each are posted as a burst, timed from the first POST until all Succeeded. The number of tasks is what that
/// concurrency would finish in <c>--seconds</c> if the model were the only cost (level × seconds × 1000 / latency),
/// so each run lasts about that long; the ideal rate is level × 1000 / latency tasks/s. Each start is first warmed
/// with zero-latency tasks until the services' JIT settles (<c>--warmup</c>, <c>--warmup-max</c>, as in
/// <see cref="SystemBenchmark"/>): measured cold, after 8 warm-up tasks, the runs mixed the services' JIT into the
/// figure (32 → 44 tasks/s of an ideal 64, with ServiceB's tiering thread busy throughout).
/// </summary>
internal static class ConcurrencyBenchmark
{
    public static async Task<Dictionary<string, double>> RunAsync(Options options)
    {
        var levels = (options.Text("levels") ?? "1,8,32").Split(',').Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToArray();
        var latencyMs = options.Int("latency-ms", 500);
        var seconds = options.Int("seconds", 15);
        var clients = options.Int("clients", 32);
        var warmup = options.Int("warmup", 0);
        var warmupMax = options.Int("warmup-max", warmup);
        var figures = new Dictionary<string, double> { ["concurrencyModelLatencyMs"] = latencyMs };
        foreach (var level in levels)
        {
            var tasks = Math.Max(10, level * seconds * 1000 / latencyMs);
            Console.WriteLine($"concurrency {level}: {tasks} tasks at {latencyMs} ms model latency");
            await using var system = await SystemUnderTest.StartAsync(workers: 1, concurrency: level);
            var warmed = await SystemBenchmark.WarmUpAsync(new Run(system.Http, Run.TaskBody()), warmup, warmupMax, clients, step => Console.WriteLine($"  {step}"));
            figures[$"concurrency{level}WarmupTasks"] = warmed;
            var run = new Run(system.Http, Run.TaskBody(latencyMs));
            await Run.WaitForSucceededAsync(await run.BurstAsync(Math.Min(level, 8), 4), TimeSpan.FromMinutes(1));
            await SystemUnderTest.WaitForNoOpenTasksAsync(TimeSpan.FromMinutes(10));

            var clock = Stopwatch.StartNew();
            var burst = await run.BurstAsync(tasks, clients);
            await Run.WaitForSucceededAsync(burst, TimeSpan.FromMinutes(10));
            var elapsed = clock.Elapsed;
            var latencies = await run.LatenciesAsync(burst);
            figures[$"concurrency{level}Tasks"] = tasks;
            figures[$"concurrency{level}PerSec"] = tasks / elapsed.TotalSeconds;
            figures[$"concurrency{level}IdealPerSec"] = level * 1000.0 / latencyMs;
            figures[$"concurrency{level}OverheadP50Ms"] = Bench.Percentile(latencies.Overhead, 50);
            Console.WriteLine($"  {tasks / elapsed.TotalSeconds:0.#} tasks/s (ideal {level * 1000.0 / latencyMs:0.#}) in {elapsed.TotalSeconds:0} s");
        }

        return figures;
    }
}
