using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// The whole system (API → outbox → RabbitMQ → ServiceB → Postgres), started by the AppHost in external mode in a
/// database of its own (recreated at start, dropped at the end), with <paramref name="workers"/> ServiceB instances of
/// <c>Worker:MaxConcurrency</c> <paramref name="concurrency"/>. One start serves every step that shares that configuration.
/// The database is recreated at start unless <c>reuseDatabase</c> (a restart on the data a stop kept).
/// </summary>
internal sealed class SystemUnderTest(DistributedApplication app, HttpClient http, int workers, int concurrency) : IAsyncDisposable
{
    public const string Database = "assistenteia_bench";
    private static readonly string[] Services = ["api", "serviceb", "servicec"];

    public HttpClient Http { get; } = http;

    public int Workers { get; } = workers;

    public int Concurrency { get; } = concurrency;

    private bool _stopped;

    public static async Task<SystemUnderTest> StartAsync(int workers, int concurrency, bool reuseDatabase = false)
    {
        var clock = Stopwatch.StartNew();
        if (!reuseDatabase)
        {
            await Bench.RecreateDatabaseAsync(Database);
        }

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
        var serviceB = builder.CreateResourceBuilder<ProjectResource>("serviceb")
            .WithEnvironment("Worker__MaxConcurrency", concurrency.ToString(CultureInfo.InvariantCulture));
        // One tenant posts everything here: the create step measures what the platform takes, not the per-tenant rate
        // limit (its default, 2,000/s, is above what this host reaches today, but not necessarily a faster one's).
        builder.CreateResourceBuilder<ProjectResource>("api").WithEnvironment("RateLimits__RequestsPerSecond", "0");
        foreach (var service in (string[])["api", "servicec"])
        {
            // The receiver of --webhook is on this machine (WebhookReceiver).
            builder.CreateResourceBuilder<ProjectResource>(service).WithEnvironment("Outbound__AllowLoopback", "true");
        }

        if (workers > 1)
        {
            // The AppHost has no replica setting of its own; the testing builder adds one to its "serviceb".
            serviceB.WithReplicas(workers);
        }

        foreach (var service in Services)
        {
            // The testing host starts no dashboard, yet points the services' OTLP exporters at one: every export
            // would fail and be retried, spending CPU the system under test needs. Measured without a collector.
            builder.CreateResourceBuilder<ProjectResource>(service).WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", "");
            // Profiling with perf (DOTNET_PerfMapEnabled=1, DOTNET_EnableWriteXorExecute=0) and trying the runtime's
            // knobs (thread-pool spinning, socket completions on the I/O thread, GC mode, tiering) and the trace sampler without a rebuild: these
            // reach the services too.
            foreach (var knob in (string[])["DOTNET_PerfMapEnabled", "DOTNET_EnableWriteXorExecute", "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit", "DOTNET_gcServer", "DOTNET_TieredPGO", "DOTNET_TieredCompilation", "DOTNET_TC_CallCountingDelayMs", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"])
            {
                if (Environment.GetEnvironmentVariable(knob) is { } value)
                {
                    builder.CreateResourceBuilder<ProjectResource>(service).WithEnvironment(knob, value);
                }
            }
        }

        var app = await builder.BuildAsync(startup.Token);
        try
        {
            await app.StartAsync(startup.Token);
            foreach (var name in Services)
            {
                await app.ResourceNotifications.WaitForResourceHealthyAsync(name, startup.Token);
            }

            if (workers > 1)
            {
                await WaitForHealthyReplicasAsync(app, "serviceb", workers, startup.Token);
            }
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var http = ApiClient(app, TimeSpan.FromSeconds(30)); // a POST not answered in 30 s counts as an error
        Console.WriteLine($"system started: {workers} ServiceB instance(s), Worker:MaxConcurrency {concurrency} ({clock.Elapsed.TotalSeconds:0} s)");
        return new SystemUnderTest(app, http, workers, concurrency);
    }

    /// <summary>A client of the API with the benchmark's key and no timeout (for requests held open, such as live streams).</summary>
    public HttpClient CreateHttpClient() => ApiClient(app, Timeout.InfiniteTimeSpan);

    /// <summary>A client of the API with the benchmark's tenant's key.</summary>
    private static HttpClient ApiClient(DistributedApplication app, TimeSpan timeout)
    {
        var http = app.CreateHttpClient("api");
        http.DefaultRequestHeaders.Add("X-Api-Key", "dev-key-tenant-a");
        http.Timeout = timeout;
        return http;
    }

    public ValueTask DisposeAsync() => StopAsync(keepDatabase: false);

    /// <summary>Stops the services; the database is dropped unless <paramref name="keepDatabase"/>. Once only.</summary>
    public async ValueTask StopAsync(bool keepDatabase)
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        Http.Dispose();
        try
        {
            await app.StopAsync();
        }
        finally
        {
            await app.DisposeAsync();
            NpgsqlConnection.ClearAllPools();
            if (!keepDatabase)
            {
                await Bench.DropDatabaseAsync(Database);
            }
        }
    }

    public static async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(Bench.ConnectionString(Database));
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>
    /// Waits until no task is open (Created … Running, or due for a retry), so the next step starts on an idle system.
    /// A system still busy after <paramref name="timeout"/> is reported and the run goes on.
    /// </summary>
    public static async Task WaitForNoOpenTasksAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        await using var connection = await OpenAsync();
        long open;
        do
        {
            await using var command = new NpgsqlCommand("""SELECT count(*) FROM "Tasks" WHERE "Status" NOT IN ('Succeeded', 'DeadLetter', 'Cancelled')""", connection);
            open = (long)(await command.ExecuteScalarAsync())!;
            if (open == 0)
            {
                return;
            }

            await Task.Delay(200);
        }
        while (clock.Elapsed < timeout);

        Console.WriteLine($"warning: {open} tasks still open after {timeout.TotalSeconds:0} s; going on");
    }

    /// <summary>Each replica is a resource instance of its own (same resource, another id): waits for that many healthy ones.</summary>
    private static async Task WaitForHealthyReplicasAsync(DistributedApplication app, string name, int replicas, CancellationToken cancellationToken)
    {
        var healthy = new HashSet<string>();
        await foreach (var update in app.ResourceNotifications.WatchAsync(cancellationToken))
        {
            if (update.Resource.Name != name)
            {
                continue;
            }

            if (update.Snapshot.HealthStatus == HealthStatus.Healthy)
            {
                healthy.Add(update.ResourceId);
            }
            else
            {
                healthy.Remove(update.ResourceId);
            }

            if (healthy.Count >= replicas)
            {
                return;
            }
        }
    }
}

/// <summary>POSTs accepted (ids and latencies), refused or unanswered ones, and how long it took.</summary>
internal sealed record Posted(List<Guid> Ids, List<double> LatenciesMs, int Errors, TimeSpan Elapsed);

/// <summary>Posts tasks (one body) and remembers when each one was sent, to measure POST → Succeeded.</summary>
internal sealed class Run(HttpClient http, object body)
{
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _sentAt = new();

    /// <summary>POSTs not accepted since <see cref="TakeRefusals"/>, by answer (status code, or what the client met).</summary>
    private readonly ConcurrentDictionary<string, int> _refused = new();

    /// <summary>The POSTs not accepted since the last call, by answer ("429 ×181, timeout ×2"), and forgets them.</summary>
    public string TakeRefusals()
    {
        var text = string.Join(", ", _refused.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key} ×{r.Value}"));
        _refused.Clear();
        return text;
    }

    /// <summary>A task the Local model answers at once: its only latency is <c>payload.simulation.latencyMs</c>.</summary>
    public static object TaskBody(int modelLatencyMs = 0)
    {
        var type = new { domain = "CustomerSupport", capability = "LLM_Generation", execution = "Async" };
        const string Prompt = "Summarise the ticket";
        const string Context = "The invoice is overdue. The customer asked for a refund. Payment failed twice.";
        return modelLatencyMs > 0
            ? new { type, payload = new { prompt = Prompt, context = Context, simulation = new { latencyMs = modelLatencyMs } } }
            : new { type, payload = new { prompt = Prompt, context = Context } };
    }

    /// <summary>One POST; the task id (from Location) and its latency, or null when it was not accepted.</summary>
    public async Task<(Guid Id, double Ms)?> PostAsync()
    {
        var sentAt = DateTimeOffset.UtcNow;
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await http.PostAsJsonAsync("/api/v1/tasks", body);
            var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (response.StatusCode != HttpStatusCode.Accepted || response.Headers.Location is not { } location)
            {
                _refused.AddOrUpdate(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), 1, (_, n) => n + 1);
                return null;
            }

            var id = Guid.Parse(location.OriginalString[(location.OriginalString.LastIndexOf('/') + 1)..]);
            _sentAt[id] = sentAt;
            return (id, ms);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            _refused.AddOrUpdate(e is TaskCanceledException ? "timeout" : "connection", 1, (_, n) => n + 1);
            return null; // refused, or not answered within the client's timeout
        }
    }

    /// <summary>Closed loop: <paramref name="clients"/> clients POST one task after another for <paramref name="duration"/>.</summary>
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
        // In the order the POSTs were sent, which is about the order they run in (see WaitForSucceededAsync).
        var ids = new Guid[count];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) is var i && i < count)
            {
                ids[i] = (await PostAsync())?.Id ?? throw new InvalidOperationException("A POST was refused during the burst.");
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

    /// <summary>Tasks one poll asks about at most: several times what finishes between two polls (~40 at 800 tasks/s), so it never falls behind.</summary>
    private const int PollWindow = 128;

    /// <summary>
    /// Until all <paramref name="ids"/> Succeeded (a task that ended otherwise fails the run), polling every
    /// <paramref name="pollMs"/> ms on one connection. Each poll asks only about the oldest <see cref="PollWindow"/>
    /// tasks not yet seen finished (<paramref name="ids"/> in the order posted, about the order they run in): asking
    /// about every unfinished task of a burst, thousands at first, fetched 1.1 million index entries of <c>Tasks</c> in
    /// 8 s of the end-to-end step (<c>pg_stat_user_tables</c>), Postgres time taken from the system being measured
    /// (Hangfire's harness reads a counter). Every task is still seen finished: the window moves on as they do.
    /// </summary>
    public static async Task WaitForSucceededAsync(IReadOnlyCollection<Guid> ids, TimeSpan timeout, int pollMs = 50)
    {
        var clock = Stopwatch.StartNew();
        var remaining = ids.Distinct().ToList();
        var seen = new HashSet<Guid>();
        await using var connection = await SystemUnderTest.OpenAsync();
        await using var command = new NpgsqlCommand(
            """SELECT "Id", "Status" = 'Succeeded' FROM "Tasks" WHERE "Id" = ANY(@ids) AND "Status" IN ('Succeeded', 'DeadLetter', 'Cancelled')""",
            connection);
        var parameter = command.Parameters.AddWithValue("ids", Array.Empty<Guid>());
        while (true)
        {
            parameter.Value = remaining.Take(PollWindow).ToArray();
            var failed = 0;
            seen.Clear();
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    seen.Add(reader.GetGuid(0));
                    failed += reader.GetBoolean(1) ? 0 : 1;
                }
            }

            remaining.RemoveAll(seen.Contains);

            if (failed > 0)
            {
                throw new InvalidOperationException($"{failed} tasks ended without succeeding.");
            }

            if (remaining.Count == 0)
            {
                return;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{remaining.Count} of {ids.Count} tasks did not Succeed within {timeout}.");
            }

            await Task.Delay(pollMs);
        }
    }

    /// <summary>
    /// POST sent → the Succeeded attempt's EndedAt, per task; overhead = that minus the attempt's LatencyMs (the model's time).
    /// Also each task's stages: accept (POST sent → the task's CreatedAt, stamped as the API starts storing it), dispatch
    /// (CreatedAt → the attempt's StartedAt: outbox, broker, claim) and finish (StartedAt → EndedAt, the model's time
    /// included). Both clocks are this machine's. Also how many distinct workers ran them.
    /// </summary>
    public async Task<Latencies> LatenciesAsync(IReadOnlyCollection<Guid> ids)
    {
        await using var connection = await SystemUnderTest.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT a."TaskId", a."EndedAt", a."LatencyMs", a."WorkerId", t."CreatedAt", a."StartedAt"
            FROM "TaskAttempts" a JOIN "Tasks" t ON t."Id" = a."TaskId"
            WHERE a."Status" = 'Succeeded' AND a."TaskId" = ANY(@ids)
            """,
            connection);
        command.Parameters.AddWithValue("ids", ids.ToArray());
        var latencies = new Latencies();
        var workers = new HashSet<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var sentAt = _sentAt[reader.GetGuid(0)];
            var endedAt = reader.GetFieldValue<DateTimeOffset>(1);
            var createdAt = reader.GetFieldValue<DateTimeOffset>(4);
            var startedAt = reader.GetFieldValue<DateTimeOffset>(5);
            var ms = (endedAt - sentAt).TotalMilliseconds;
            latencies.Total.Add(ms);
            latencies.Overhead.Add(ms - reader.GetInt64(2));
            latencies.Accept.Add((createdAt - sentAt).TotalMilliseconds);
            latencies.Dispatch.Add((startedAt - createdAt).TotalMilliseconds);
            latencies.Finish.Add((endedAt - startedAt).TotalMilliseconds);
            if (!reader.IsDBNull(3))
            {
                workers.Add(reader.GetString(3));
            }
        }

        latencies.Workers = workers.Count;
        return latencies;
    }
}

/// <summary>Per task, in milliseconds: see <see cref="Run.LatenciesAsync"/>.</summary>
internal sealed class Latencies
{
    public List<double> Total { get; } = [];

    public List<double> Overhead { get; } = [];

    public List<double> Accept { get; } = [];

    public List<double> Dispatch { get; } = [];

    public List<double> Finish { get; } = [];

    public int Workers { get; set; }
}
