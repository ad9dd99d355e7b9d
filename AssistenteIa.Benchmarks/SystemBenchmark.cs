using System.Diagnostics;
using System.Globalization;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// Scenarios 2–4 and the idle check on one start of the whole system (<see cref="SystemUnderTest"/>), Local model at
/// zero latency. <c>--steps</c> picks and orders them (each starts once no task is open):
/// <list type="bullet">
/// <item>idle: single tasks one at a time, each POST → Succeeded, on a system with nothing else to do;</item>
/// <item>create: for each of <c>--create-clients</c> (e.g. 8,32,64), that many clients POST tasks for a while
/// (ServiceB runs meanwhile, as in production); <c>--clients</c>' figures carry no suffix, the others _N;</item>
/// <item>paced-create: POSTs at a fixed rate (open loop), POST latency only;</item>
/// <item>end-to-end: a burst of tasks posted as fast as the API takes them, timed until all Succeeded, with each
/// task's POST → Succeeded latency and the platform overhead (that latency minus the model's); <c>--end-to-end-rounds</c>
/// times (1), reporting the median round by rate;</item>
/// <item>paced: tasks posted at a fixed rate (open loop), POST → Succeeded latency; <c>--paced-rounds</c> times (1),
/// reporting the median round by p99;</item>
/// <item>scale: <c>--seed-tasks</c> finished tasks added by SQL (<see cref="Seeder"/>), then create (<c>--clients</c>) and
/// end-to-end again, figures suffixed _1M.</item>
/// </list>
/// <c>--listen N</c> holds N tenant-wide live streams open throughout (<see cref="LiveStreams"/>; not with the scale
/// step, which restarts the services); <c>--webhook task.succeeded,…</c> registers an endpoint taking those types at a
/// receiver on this machine (<see cref="WebhookReceiver"/>); <c>--workers 2</c> starts two ServiceB instances; <c>--suffix</c> is appended to every figure's name.
/// </summary>
internal static class SystemBenchmark
{
    public static async Task<Dictionary<string, double>> RunAsync(Options options)
    {
        var steps = (options.Text("steps") ?? "idle,create,end-to-end,paced").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var clients = options.Int("clients", 32);
        var createClients = (options.Text("create-clients") ?? clients.ToString(CultureInfo.InvariantCulture)).Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
        var createSeconds = options.Int("create-seconds", 10);
        var tasks = options.Int("tasks", 5000);
        var workers = options.Int("workers", 1);
        var workerConcurrency = options.Int("worker-concurrency", 2);
        var suffix = options.Text("suffix") ?? "";
        var endToEndRounds = options.Int("end-to-end-rounds", 1);
        var pacedRounds = options.Int("paced-rounds", 1);
        var figures = new Dictionary<string, double>();
        void Set(string name, double value) => figures[name + suffix] = value;
        Set("workerConcurrency", workerConcurrency);
        Set("workers", workers);

        var clock = Stopwatch.StartNew();
        void Step(string text) => Console.WriteLine($"[{clock.Elapsed.TotalSeconds:0} s] {text}");
        var listen = options.Int("listen", 0);
        if (listen > 0 && steps.Contains("scale"))
        {
            // The scale step restarts the services, which ends the streams.
            throw new ArgumentException("--listen does not go with the scale step.");
        }

        var system = await SystemUnderTest.StartAsync(workers, workerConcurrency);
        LiveStreams? streams = null;
        WebhookReceiver? webhook = null;
        try
        {
            if (options.Text("webhook") is { } webhookEvents)
            {
                webhook = await WebhookReceiver.StartAsync(system.Http, webhookEvents.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
                Console.WriteLine($"webhook endpoint for {webhookEvents} at {webhook.Url}");
            }

            if (listen > 0)
            {
                // Held open from before the warm-up, so that the listening path is as warm as the rest.
                streams = await LiveStreams.OpenAsync(system, listen);
                Set("liveStreams", listen);
                Console.WriteLine($"{listen} live stream(s) open");
            }

            var run = new Run(system.Http, Run.TaskBody());

            // Warm-up: JIT, connection pools, EF model. These tasks are also the scale step's templates.
            await Run.WaitForSucceededAsync(await run.BurstAsync(50, 4), TimeSpan.FromMinutes(1));
            var warmup = options.Int("warmup", 0);
            var warmupMax = options.Int("warmup-max", warmup);
            var warmed = 50 + await WarmUpAsync(run, warmup, warmupMax, clients, Step);
            Set("warmupTasks", warmed);

            foreach (var step in steps)
            {
                await SystemUnderTest.WaitForNoOpenTasksAsync(TimeSpan.FromMinutes(10));
                switch (step)
                {
                    case "idle":
                        var idleTasks = options.Int("idle-tasks", 50);
                        Step($"idle: {idleTasks} single tasks one at a time");
                        var idle = await IdleAsync(run, idleTasks);
                        Set("idleTasks", idleTasks);
                        Set("idleP50Ms", Bench.Percentile(idle.Total, 50));
                        Set("idleP99Ms", Bench.Percentile(idle.Total, 99));
                        Set("idleAcceptP50Ms", Bench.Percentile(idle.Accept, 50));
                        Set("idleDispatchP50Ms", Bench.Percentile(idle.Dispatch, 50));
                        Set("idleFinishP50Ms", Bench.Percentile(idle.Finish, 50));
                        break;

                    case "create":
                        foreach (var n in createClients)
                        {
                            Step($"create: {n} clients for {createSeconds} s");
                            var created = await run.CreateForAsync(n, TimeSpan.FromSeconds(createSeconds));
                            SetCreate(Set, created, n == clients ? "" : $"_{n}");
                            if (n == clients)
                            {
                                Set("createClients", n);
                            }

                            await SystemUnderTest.WaitForNoOpenTasksAsync(TimeSpan.FromMinutes(10));
                        }

                        break;

                    case "paced-create":
                        var createRate = options.Int("paced-create-rate", 1000);
                        var createRateSeconds = options.Int("paced-create-seconds", 10);
                        Step($"paced create: {createRate} POSTs/s for {createRateSeconds} s");
                        run.TakeRefusals();
                        var pacedCreate = await run.PacedAsync(createRate, TimeSpan.FromSeconds(createRateSeconds));
                        Set("pacedCreateRate", createRate);
                        Set("pacedCreateP50Ms", Bench.Percentile(pacedCreate.LatenciesMs, 50));
                        Set("pacedCreateP99Ms", Bench.Percentile(pacedCreate.LatenciesMs, 99));
                        Set("pacedCreateErrors", pacedCreate.Errors);
                        if (pacedCreate.Errors > 0)
                        {
                            Console.WriteLine($"  not accepted: {run.TakeRefusals()}");
                        }
                        break;

                    case "end-to-end":
                        Step($"end to end: {tasks} tasks from {clients} clients, {endToEndRounds} round(s)");
                        await MedianRoundAsync(endToEndRounds, "endToEndPerSec", ["endToEndPerSec", "endToEndCpuMsPerTask"], "", round => EndToEndAsync(run, tasks, clients, round, ""), Set);
                        break;

                    case "paced":
                        var pacedRate = options.Int("paced-rate", 400);
                        var pacedSeconds = options.Int("paced-seconds", 10);
                        Step($"paced: {pacedRate} tasks/s for {pacedSeconds} s, {pacedRounds} round(s)");
                        await MedianRoundAsync(pacedRounds, "pacedP99Ms", ["pacedP50Ms", "pacedP99Ms", "pacedAcceptP99Ms", "pacedDispatchP99Ms"], "", async round =>
                        {
                            run.TakeRefusals();
                            var paced = await run.PacedAsync(pacedRate, TimeSpan.FromSeconds(pacedSeconds));
                            round("pacedErrors", paced.Errors);
                            if (paced.Errors > 0)
                            {
                                Console.WriteLine($"    not accepted: {run.TakeRefusals()}");
                            }
                            await Run.WaitForSucceededAsync(paced.Ids, TimeSpan.FromMinutes(10));
                            var pacedLatencies = await run.LatenciesAsync(paced.Ids);
                            round("pacedRate", pacedRate);
                            round("pacedP50Ms", Bench.Percentile(pacedLatencies.Total, 50));
                            round("pacedP99Ms", Bench.Percentile(pacedLatencies.Total, 99));
                            // Where a slow round spent its time: the API's answer, or the way to the worker.
                            var acceptP99 = Bench.Percentile(pacedLatencies.Accept, 99);
                            var dispatchP99 = Bench.Percentile(pacedLatencies.Dispatch, 99);
                            round("pacedAcceptP99Ms", acceptP99);
                            round("pacedDispatchP99Ms", dispatchP99);
                            Console.WriteLine($"    p99 of accept {acceptP99:0.#} ms, queue to start {dispatchP99:0.#} ms");
                        }, Set);
                        break;

                    case "scale":
                        // Seeded with the services stopped (their once-a-second polls would scan the tables while the
                        // loader has their indexes dropped), then started again on the bigger database, as after a restore.
                        var seedTasks = options.Int("seed-tasks", 1_000_000);
                        Step($"scale: services stopped, seeding {seedTasks:N0} finished tasks");
                        await system.StopAsync(keepDatabase: true);
                        var (rows, seedTime) = await Seeder.SeedAsync(seedTasks);
                        Set("seedTasks", seedTasks);
                        Set("seedRows", rows);
                        Set("seedSeconds", seedTime.TotalSeconds);
                        system = await SystemUnderTest.StartAsync(workers, workerConcurrency, reuseDatabase: true);
                        run = new Run(system.Http, Run.TaskBody());

                        // Warmed like the first start: cold, the create step measured the tiered JIT (0.21× the empty
                        // table's rate in the first full run), not the bigger tables.
                        await Run.WaitForSucceededAsync(await run.BurstAsync(50, 4), TimeSpan.FromMinutes(1));
                        Set("warmupTasks_1M", 50 + await WarmUpAsync(run, warmup, warmupMax, clients, Step));
                        await SystemUnderTest.WaitForNoOpenTasksAsync(TimeSpan.FromMinutes(10));

                        Step($"scale: create, {clients} clients for {createSeconds} s");
                        SetCreate(Set, await run.CreateForAsync(clients, TimeSpan.FromSeconds(createSeconds)), "_1M");
                        await SystemUnderTest.WaitForNoOpenTasksAsync(TimeSpan.FromMinutes(10));
                        Step($"scale: end to end, {tasks} tasks from {clients} clients, {endToEndRounds} round(s)");
                        await MedianRoundAsync(endToEndRounds, "endToEndPerSec", ["endToEndPerSec", "endToEndCpuMsPerTask"], "_1M", round => EndToEndAsync(run, tasks, clients, round, "_1M"), Set);
                        break;

                    default:
                        throw new ArgumentException($"Unknown step '{step}'.");
                }

                if (streams is not null)
                {
                    Set("liveStreamEvents", streams.Events);
                }

                if (webhook is not null)
                {
                    Set("webhookDeliveries", webhook.Deliveries);
                }

                Console.WriteLine("  " + string.Join(", ", figures.Select(f => $"{f.Key} {f.Value:0.#}")));
            }
        }
        finally
        {
            if (streams is not null)
            {
                await streams.DisposeAsync();
            }

            if (webhook is not null)
            {
                await webhook.DisposeAsync();
            }

            await system.DisposeAsync();
            await Bench.DropDatabaseAsync(SystemUnderTest.Database); // also when a restart failed after a stop that kept it
        }

        Step("done");
        return figures;
    }

    /// <summary>The background JIT's share of the services' CPU over a warm-up round below which they count as warm.</summary>
    internal const double SettledCompilerShare = 0.03;

    /// <summary>
    /// At least <paramref name="minimum"/> tasks, then rounds of 1,000 until the services' background JIT took at most
    /// <see cref="SettledCompilerShare"/> of their CPU over a round, up to <paramref name="maximum"/>: the services'
    /// tiered JIT keeps compiling for some thousands of tasks on 2 cores (measured: after 1,000 warm-up tasks the
    /// tiering thread still took 54% of ServiceB's CPU during the measured run, and the run came out at 64–77 tasks/s
    /// against 113 after 4,000; after 5,050 the API's still took 10% of the machine, and the first measured round ran
    /// 237 tasks/s against 273 for the second), and how long depends on the machine's load. Where there is no
    /// <c>/proc</c> to read the JIT's threads from, until two rounds in a row take within 10% of the same time.
    /// Returns the tasks run.
    /// </summary>
    internal static async Task<int> WarmUpAsync(Run run, int minimum, int maximum, int clients, Action<string> step)
    {
        const int Round = 1000;
        if (maximum <= 0)
        {
            return 0;
        }

        step($"warm-up: {minimum} tasks, then rounds of {Round} until the services' JIT settles (at most {maximum}) from {clients} clients");
        var done = 0;
        TimeSpan? previous = null;
        while (done < maximum)
        {
            var size = done < minimum ? Math.Min(minimum - done, maximum - done) : Math.Min(Round, maximum - done);
            var compilerBefore = ProcessCpu.SampleCompiler();
            var timer = Stopwatch.StartNew();
            await Run.WaitForSucceededAsync(await run.BurstAsync(size, clients), TimeSpan.FromMinutes(10));
            timer.Stop();
            done += size;
            if (size != Round)
            {
                continue;
            }

            if (compilerBefore is { } before && ProcessCpu.SampleCompiler() is { } after && ProcessCpu.CompilerShare(before, after) is { } share)
            {
                Console.WriteLine($"  warm-up round: {Round} tasks in {timer.Elapsed.TotalSeconds:0.0} s, the JIT {share:P1} of the services' CPU");
                if (share <= SettledCompilerShare)
                {
                    return done;
                }

                continue;
            }

            Console.WriteLine($"  warm-up round: {Round} tasks in {timer.Elapsed.TotalSeconds:0.0} s");
            if (previous is { } last && Math.Abs(timer.Elapsed.TotalSeconds - last.TotalSeconds) <= 0.1 * last.TotalSeconds)
            {
                return done;
            }

            previous = timer.Elapsed;
        }

        if (maximum > minimum)
        {
            Console.WriteLine($"  warm-up: not settled after {done} tasks (the maximum); measuring anyway");
        }

        return done;
    }

    /// <summary>
    /// Runs a step <paramref name="rounds"/> times (waiting for the system to drain between them) and reports the round
    /// whose <paramref name="key"/> is the median, all of its figures (so the percentiles reported belong together), with
    /// the lowest and highest of each <paramref name="spread"/> figure over the rounds (<c>…Min</c>, <c>…Max</c>) and
    /// the number of rounds (<c>…Rounds</c>, named after the key). One round on this shared 2-core host moves by ±15% from
    /// one run to the next; the median of three is steadier, and the spread shows how far the host moved. An even
    /// number of rounds reports the lower middle one.
    /// </summary>
    private static async Task MedianRoundAsync(
        int rounds, string key, string[] spread, string stepSuffix, Func<Action<string, double>, Task> round, Action<string, double> set)
    {
        var results = new List<Dictionary<string, double>>(rounds);
        for (var i = 0; i < Math.Max(1, rounds); i++)
        {
            if (i > 0)
            {
                await SystemUnderTest.WaitForNoOpenTasksAsync(TimeSpan.FromMinutes(10));
            }

            var figures = new Dictionary<string, double>();
            await round((name, value) => figures[name] = value);
            results.Add(figures);
            if (rounds > 1)
            {
                Console.WriteLine($"  round {i + 1}: {key}{stepSuffix} {figures[key + stepSuffix]:0.#}");
            }
        }

        var median = results.OrderBy(r => r[key + stepSuffix]).ElementAt((results.Count - 1) / 2);
        foreach (var (name, value) in median)
        {
            set(name, value);
        }

        foreach (var figure in spread)
        {
            var values = results.Select(r => r.TryGetValue(figure + stepSuffix, out var v) ? v : double.NaN).ToList();
            set(figure + "Min" + stepSuffix, values.Min());
            set(figure + "Max" + stepSuffix, values.Max());
        }

        set(key + "Rounds" + stepSuffix, results.Count);
    }

    private static void SetCreate(Action<string, double> set, Posted created, string suffix)
    {
        set("createPerSec" + suffix, created.Ids.Count / created.Elapsed.TotalSeconds);
        set("createP50Ms" + suffix, Bench.Percentile(created.LatenciesMs, 50));
        set("createP95Ms" + suffix, Bench.Percentile(created.LatenciesMs, 95));
        set("createP99Ms" + suffix, Bench.Percentile(created.LatenciesMs, 99));
        set("createErrors" + suffix, created.Errors);
    }

    private static async Task EndToEndAsync(Run run, int tasks, int clients, Action<string, double> set, string suffix)
    {
        var cpuBefore = Bench.MachineCpuTime();
        var partsBefore = ProcessCpu.Sample();
        var clock = Stopwatch.StartNew();
        var burst = await run.BurstAsync(tasks, clients);
        set("endToEndPostPerSec" + suffix, tasks / clock.Elapsed.TotalSeconds);
        await Run.WaitForSucceededAsync(burst, TimeSpan.FromMinutes(15));
        set("endToEndPerSec" + suffix, tasks / clock.Elapsed.TotalSeconds);
        if (cpuBefore is { } before && Bench.MachineCpuTime() is { } after)
        {
            // What the whole machine spent per task (every process: services, Postgres, RabbitMQ, this client): steadier
            // than a rate when the machine's cores are shared with others (a rate falls with stolen time, this does not).
            set("endToEndCpuMsPerTask" + suffix, (after - before).TotalMilliseconds / tasks);
        }

        if (partsBefore is not null && ProcessCpu.Sample() is { } partsAfter)
        {
            // The same per part: where a task's cost goes (endToEndCpuMsPerTaskApi, …ServiceB, …Postgres, …).
            foreach (var (part, _) in ProcessCpu.Parts)
            {
                set($"endToEndCpuMsPerTask{part}{suffix}", (partsAfter[part] - partsBefore[part]).TotalMilliseconds / tasks);
            }
        }

        set("endToEndTasks" + suffix, tasks);
        var endToEnd = await run.LatenciesAsync(burst);
        set("endToEndP50Ms" + suffix, Bench.Percentile(endToEnd.Total, 50));
        set("endToEndP95Ms" + suffix, Bench.Percentile(endToEnd.Total, 95));
        set("endToEndP99Ms" + suffix, Bench.Percentile(endToEnd.Total, 99));
        set("overheadP50Ms" + suffix, Bench.Percentile(endToEnd.Overhead, 50));
        set("endToEndAcceptP50Ms" + suffix, Bench.Percentile(endToEnd.Accept, 50));
        set("endToEndDispatchP50Ms" + suffix, Bench.Percentile(endToEnd.Dispatch, 50));
        set("endToEndFinishP50Ms" + suffix, Bench.Percentile(endToEnd.Finish, 50));
        set("endToEndWorkerIds" + suffix, endToEnd.Workers);
    }

    /// <summary>
    /// One task at a time: POST, wait (polling every 2 ms) until it Succeeded, pause, next. The figure is POST sent →
    /// the attempt's EndedAt, so the polling interval does not add to it.
    /// </summary>
    private static async Task<Latencies> IdleAsync(Run run, int count)
    {
        var ids = new List<Guid>(count);
        for (var i = 0; i < count; i++)
        {
            var id = (await run.PostAsync())?.Id ?? throw new InvalidOperationException("A POST was refused during the idle check.");
            await Run.WaitForSucceededAsync([id], TimeSpan.FromMinutes(1), pollMs: 2);
            ids.Add(id);
            await Task.Delay(20);
        }

        return await run.LatenciesAsync(ids);
    }
}
