using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Npgsql;

// End-to-end throughput and latency of the whole system (API → outbox → RabbitMQ → ServiceB → Postgres),
// on the local servers started by scripts/infra.sh, in a database of its own.
//   dotnet run -c Release --project AssistenteIa.Benchmarks -- [tasks=1000] [clients=16] [workerConcurrency=1]
var tasks = Arg(0, 1000);
var clients = Arg(1, 16);
var workerConcurrency = Arg(2, 1);
const string Server = "Host=localhost;Port=5432;Username=postgres;Password=007182";
const string Database = "assistenteia_bench";

await using (var admin = new NpgsqlConnection($"{Server};Database=postgres;Pooling=false"))
{
    await admin.OpenAsync();
    await new NpgsqlCommand($"DROP DATABASE IF EXISTS {Database} WITH (FORCE)", admin).ExecuteNonQueryAsync();
}

using var startup = new CancellationTokenSource(TimeSpan.FromMinutes(3));
var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AssistenteIa_AppHost>(
    ["--Infrastructure:Mode=external", $"--ConnectionStrings:db={Server};Database={Database}", "--ConnectionStrings:rabbitmq=amqp://guest:guest@localhost:5672/", "--Api:Port=0"],
    startup.Token);
builder.CreateResourceBuilder<ProjectResource>("serviceb").WithEnvironment("Worker__MaxConcurrency", workerConcurrency.ToString(CultureInfo.InvariantCulture));
await using var app = await builder.BuildAsync(startup.Token);
await app.StartAsync(startup.Token);
foreach (var name in new[] { "api", "serviceb", "servicec" })
{
    await app.ResourceNotifications.WaitForResourceHealthyAsync(name, startup.Token);
}

using var http = app.CreateHttpClient("api");
http.DefaultRequestHeaders.Add("X-Api-Key", "dev-key-tenant-a");
var body = new
{
    type = new { domain = "CustomerSupport", capability = "LLM_Generation", execution = "Async" },
    payload = new { prompt = "Summarise the ticket", context = "The invoice is overdue. The customer asked for a refund. Payment failed twice." },
};

// Warm-up: JIT, connection pools, EF model.
for (var i = 0; i < 20; i++)
{
    (await http.PostAsJsonAsync("/api/v1/tasks", body)).EnsureSuccessStatusCode();
}

await WaitForAllAsync(20);

var postLatencies = new double[tasks];
var next = -1;
var clock = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
{
    while (Interlocked.Increment(ref next) is var index && index < tasks)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await http.PostAsJsonAsync("/api/v1/tasks", body);
        postLatencies[index] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            throw new InvalidOperationException($"POST answered {(int)response.StatusCode}");
        }
    }
}));
var posted = clock.Elapsed;
await WaitForAllAsync(tasks + 20);
var drained = clock.Elapsed;

var endToEnd = await EndToEndAsync();
Array.Sort(postLatencies);
Console.WriteLine($"tasks={tasks} clients={clients} workerConcurrency={workerConcurrency} (2 cores, Release, local Postgres and RabbitMQ)");
Console.WriteLine($"accept:    {tasks / posted.TotalSeconds,8:F0} tasks/s   POST p50 {Pct(postLatencies, 50):F1} ms  p95 {Pct(postLatencies, 95):F1} ms  p99 {Pct(postLatencies, 99):F1} ms");
Console.WriteLine($"execute:   {tasks / drained.TotalSeconds,8:F0} tasks/s   all {tasks} Succeeded after {drained.TotalSeconds:F1} s");
Console.WriteLine($"end to end (created → succeeded): p50 {endToEnd.P50:F0} ms  p95 {endToEnd.P95:F0} ms (includes queueing behind the burst)");
await app.StopAsync();
return 0;

int Arg(int index, int fallback) => args.Length > index && int.TryParse(args[index], CultureInfo.InvariantCulture, out var value) ? value : fallback;

static double Pct(double[] sorted, int percentile) => sorted[Math.Min(sorted.Length - 1, sorted.Length * percentile / 100)];

async Task WaitForAllAsync(int expected)
{
    using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(10));
    while (await ScalarAsync<long>("""SELECT count(*) FROM "Tasks" WHERE "Status" = 'Succeeded'""") < expected)
    {
        await Task.Delay(100, deadline.Token);
    }
}

async Task<(double P50, double P95)> EndToEndAsync()
{
    var p50 = await ScalarAsync<double>("""SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "UpdatedAt" - "CreatedAt") * 1000) FROM "Tasks" """);
    var p95 = await ScalarAsync<double>("""SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM "UpdatedAt" - "CreatedAt") * 1000) FROM "Tasks" """);
    return (p50, p95);
}

async Task<T> ScalarAsync<T>(string sql)
{
    await using var connection = new NpgsqlConnection($"{Server};Database={Database}");
    await connection.OpenAsync();
    return (T)(await new NpgsqlCommand(sql, connection).ExecuteScalarAsync())!;
}
