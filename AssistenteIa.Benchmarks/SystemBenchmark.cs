using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// Scenarios 2 and 3 on one start of the whole system (API → outbox → RabbitMQ → ServiceB → Postgres), started by
/// the AppHost in external mode in a database of its own. The Local model answers at once: its only latency is a
/// task's <c>payload.simulation.latencyMs</c>, which these tasks do not set.
/// <list type="bullet">
/// <item>create: N clients POST tasks for a while (ServiceB runs meanwhile, as in production);</item>
/// <item>end to end: a burst of tasks posted as fast as the API takes them, timed until all Succeeded, with each
/// task's POST → Succeeded latency and the platform overhead (that latency minus the model's);</item>
/// <item>paced: tasks posted at a fixed rate (open loop), POST → Succeeded latency.</item>
/// </list>
/// </summary>
internal static class SystemBenchmark
{
    private const string Database = "assistenteia_bench";

    private static readonly object Body = new
    {
        type = new { domain = "CustomerSupport", capability = "LLM_Generation", execution = "Async" },
        payload = new { prompt = "Summarise the ticket", context = "The invoice is overdue. The customer asked for a refund. Payment failed twice." },
    };

    public static async Task<Dictionary<string, double>> RunAsync(Options options)
    {
        var clients = options.Int("clients", 32);
        var createSeconds = options.Int("create-seconds", 10);
        var tasks = options.Int("tasks", 5000);
        var pacedRate = options.Int("paced-rate", 400);
        var pacedSeconds = options.Int("paced-seconds", 10);
        var workerConcurrency = options.Int("worker-concurrency", 2);
        var figures = new Dictionary<string, double> { ["workerConcurrency"] = workerConcurrency, ["createClients"] = clients };

        await Bench.RecreateDatabaseAsync(Database);
        try
        {
            using var startup = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AssistenteIa_AppHost>(
                ["--Infrastructure:Mode=external", $"--ConnectionStrings:db={Bench.ConnectionString(Database)}", "--ConnectionStrings:rabbitmq=amqp://guest:guest@localhost:5672/", "--Api:Port=0"],
                startup.Token);
            // The services' console output and a log line per request stay out of this process: writing hundreds of
            // thousands of lines would take CPU the system under test needs.
            builder.Services.AddLogging(logging => logging
                .AddFilter("AssistenteIa.AppHost.Resources", LogLevel.None)
                .AddFilter("Aspire.Hosting", LogLevel.Warning)
                .AddFilter("System.Net.Http.HttpClient", LogLevel.Warning));
            builder.CreateResourceBuilder<ProjectResource>("serviceb").WithEnvironment("Worker__MaxConcurrency", workerConcurrency.ToString(CultureInfo.InvariantCulture));
            foreach (var service in new[] { "api", "serviceb", "servicec" })
            {
                // The testing host starts no dashboard, yet points the services' OTLP exporters at one: every export
                // would fail and be retried, spending CPU the system under test needs. Measured without a collector.
                builder.CreateResourceBuilder<ProjectResource>(service).WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", "");
            }
            await using var app = await builder.BuildAsync(startup.Token);
            await app.StartAsync(startup.Token);
            foreach (var name in new[] { "api", "serviceb", "servicec" })
            {
                await app.ResourceNotifications.WaitForResourceHealthyAsync(name, startup.Token);
            }

            using var http = app.CreateHttpClient("api");
            http.DefaultRequestHeaders.Add("X-Api-Key", "dev-key-tenant-a");
            http.Timeout = TimeSpan.FromSeconds(30); // a POST not answered in 30 s counts as an error
            var run = new Run(http);

            // Warm-up: JIT, connection pools, EF model.
            await run.WaitForSucceededAsync(await run.BurstAsync(50, 4), TimeSpan.FromMinutes(1));

            Console.WriteLine($"create: {clients} clients for {createSeconds} s");
            var created = await run.CreateForAsync(clients, TimeSpan.FromSeconds(createSeconds));
            figures["createPerSec"] = created.Ids.Count / created.Elapsed.TotalSeconds;
            figures["createP50Ms"] = Bench.Percentile(created.LatenciesMs, 50);
            figures["createP95Ms"] = Bench.Percentile(created.LatenciesMs, 95);
            figures["createP99Ms"] = Bench.Percentile(created.LatenciesMs, 99);
            figures["createErrors"] = created.Errors;
            Print(figures);
            await run.WaitForSucceededAsync(created.Ids, TimeSpan.FromMinutes(5));

            Console.WriteLine($"end to end: {tasks} tasks from {clients} clients");
            var clock = Stopwatch.StartNew();
            var burst = await run.BurstAsync(tasks, clients);
            figures["endToEndPostPerSec"] = tasks / clock.Elapsed.TotalSeconds;
            await run.WaitForSucceededAsync(burst, TimeSpan.FromMinutes(10));
            figures["endToEndPerSec"] = tasks / clock.Elapsed.TotalSeconds;
            var endToEnd = await run.LatenciesAsync(burst);
            figures["endToEndP50Ms"] = Bench.Percentile(endToEnd.Total, 50);
            figures["endToEndP95Ms"] = Bench.Percentile(endToEnd.Total, 95);
            figures["endToEndP99Ms"] = Bench.Percentile(endToEnd.Total, 99);
            figures["overheadP50Ms"] = Bench.Percentile(endToEnd.Overhead, 50);
            Print(figures);

            Console.WriteLine($"paced: {pacedRate} tasks/s for {pacedSeconds} s");
            var paced = await run.PacedAsync(pacedRate, TimeSpan.FromSeconds(pacedSeconds));
            figures["pacedErrors"] = paced.Errors;
            await run.WaitForSucceededAsync(paced.Ids, TimeSpan.FromMinutes(10));
            var pacedLatencies = await run.LatenciesAsync(paced.Ids);
            figures["pacedRate"] = pacedRate;
            figures["pacedP50Ms"] = Bench.Percentile(pacedLatencies.Total, 50);
            figures["pacedP99Ms"] = Bench.Percentile(pacedLatencies.Total, 99);

            await app.StopAsync();
        }
        finally
        {
            await Bench.DropDatabaseAsync(Database);
        }

        return figures;
    }

    private static void Print(Dictionary<string, double> figures) =>
        Console.WriteLine(string.Join(", ", figures.Select(f => $"{f.Key} {f.Value:0.#}")));

    private sealed record Posted(List<Guid> Ids, List<double> LatenciesMs, int Errors, TimeSpan Elapsed);

    /// <summary>Posts tasks and remembers when each one was sent, to measure POST → Succeeded.</summary>
    private sealed class Run(HttpClient http)
    {
        private readonly ConcurrentDictionary<Guid, DateTimeOffset> _sentAt = new();

        /// <summary>One POST; the task id (from Location) and its latency, or null when it was not accepted.</summary>
        public async Task<(Guid Id, double Ms)?> PostAsync()
        {
            var sentAt = DateTimeOffset.UtcNow;
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var response = await http.PostAsJsonAsync("/api/v1/tasks", Body);
                var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (response.StatusCode != HttpStatusCode.Accepted || response.Headers.Location is not { } location)
                {
                    return null;
                }

                var id = Guid.Parse(location.OriginalString[(location.OriginalString.LastIndexOf('/') + 1)..]);
                _sentAt[id] = sentAt;
                return (id, ms);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return null; // refused, or not answered within the client's timeout
            }
        }

        public async Task<Posted> CreateForAsync(int clients, TimeSpan duration)
        {
            var ids = new ConcurrentBag<Guid>();
            var latencies = new ConcurrentBag<double>();
            var errors = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
            {
                while (clock.Elapsed < duration)
                {
                    if (await PostAsync() is { } posted)
                    {
                        ids.Add(posted.Id);
                        latencies.Add(posted.Ms);
                    }
                    else
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
            }));
            return new Posted([.. ids], [.. latencies], errors, clock.Elapsed);
        }

        /// <summary>Exactly <paramref name="count"/> accepted tasks from <paramref name="clients"/> clients (a refused POST is an error).</summary>
        public async Task<List<Guid>> BurstAsync(int count, int clients)
        {
            var ids = new ConcurrentBag<Guid>();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
            {
                while (Interlocked.Increment(ref next) < count)
                {
                    ids.Add((await PostAsync())?.Id ?? throw new InvalidOperationException("A POST was refused during the burst."));
                }
            }));
            return [.. ids];
        }

        /// <summary>Open loop: the i-th POST starts at i / rate seconds, whether or not earlier ones have answered.</summary>
        public async Task<Posted> PacedAsync(int rate, TimeSpan duration)
        {
            var count = (int)(rate * duration.TotalSeconds);
            var posts = new List<Task<(Guid Id, double Ms)?>>(count);
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < count; i++)
            {
                var due = TimeSpan.FromSeconds((double)i / rate);
                if (due - clock.Elapsed is { TotalMilliseconds: > 1 } wait)
                {
                    await Task.Delay(wait);
                }

                posts.Add(Task.Run(PostAsync));
            }

            var results = await Task.WhenAll(posts);
            var accepted = results.OfType<(Guid Id, double Ms)>().ToList();
            return new Posted([.. accepted.Select(r => r.Id)], [.. accepted.Select(r => r.Ms)], count - accepted.Count, clock.Elapsed);
        }

        public async Task WaitForSucceededAsync(IReadOnlyCollection<Guid> ids, TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            await using var connection = await OpenAsync();
            while (true)
            {
                await using var command = new NpgsqlCommand(
                    """SELECT count(*) FILTER (WHERE "Status" = 'Succeeded'), count(*) FILTER (WHERE "Status" IN ('DeadLetter', 'Cancelled')) FROM "Tasks" WHERE "Id" = ANY(@ids)""",
                    connection);
                command.Parameters.AddWithValue("ids", ids.ToArray());
                await using (var reader = await command.ExecuteReaderAsync())
                {
                    await reader.ReadAsync();
                    if (reader.GetInt64(1) > 0)
                    {
                        throw new InvalidOperationException($"{reader.GetInt64(1)} tasks ended without succeeding.");
                    }

                    if (reader.GetInt64(0) == ids.Count)
                    {
                        return;
                    }
                }

                if (clock.Elapsed > timeout)
                {
                    throw new TimeoutException($"Not all {ids.Count} tasks Succeeded within {timeout}.");
                }

                await Task.Delay(50);
            }
        }

        /// <summary>
        /// POST sent → the Succeeded attempt's EndedAt, per task; overhead = that minus the attempt's LatencyMs (the model's time).
        /// Both clocks are this machine's.
        /// </summary>
        public async Task<(List<double> Total, List<double> Overhead)> LatenciesAsync(IReadOnlyCollection<Guid> ids)
        {
            await using var connection = await OpenAsync();
            await using var command = new NpgsqlCommand(
                """SELECT "TaskId", "EndedAt", "LatencyMs" FROM "TaskAttempts" WHERE "Status" = 'Succeeded' AND "TaskId" = ANY(@ids)""",
                connection);
            command.Parameters.AddWithValue("ids", ids.ToArray());
            var total = new List<double>(ids.Count);
            var overhead = new List<double>(ids.Count);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var ms = (reader.GetFieldValue<DateTimeOffset>(1) - _sentAt[reader.GetGuid(0)]).TotalMilliseconds;
                total.Add(ms);
                overhead.Add(ms - reader.GetInt64(2));
            }

            return (total, overhead);
        }

        private static async Task<NpgsqlConnection> OpenAsync()
        {
            var connection = new NpgsqlConnection(Bench.ConnectionString(Database));
            await connection.OpenAsync();
            return connection;
        }
    }
}
