using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// Merges the scenarios' figures (the *.json files in --parts), adds ratios and machine info, prints a markdown table
/// with the issue's goals and writes bench/results/&lt;UTC timestamp&gt;.json and latest.json.
/// </summary>
internal static class Report
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Write(Options options)
    {
        var parts = options.Text("parts") ?? throw new ArgumentException("--parts <directory> is required.");
        var output = options.Text("output") ?? "bench/results";
        var figures = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(parts, "*.json"))
        {
            foreach (var (name, value) in JsonSerializer.Deserialize<Dictionary<string, double>>(File.ReadAllText(file))!)
            {
                figures[name] = value;
            }
        }

        double Get(string name) => figures.TryGetValue(name, out var value) ? value : double.NaN;
        var ratios = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["createVsCommitLimit"] = Get("createPerSec") / Get("commitLimitPerSec"),
            ["endToEndVsCommitLimit"] = Get("endToEndPerSec") / Get("commitLimitPerSec"),
            ["endToEndVsHangfire"] = Get("endToEndPerSec") / Get("hangfirePerSec"),
            ["endToEndVsLeanLoop"] = Get("endToEndPerSec") / Get("leanLoopPerSec"),
            ["createVsCommitLimit_8"] = Get("createPerSec_8") / Get("commitLimitPerSec"),
            ["createVsCommitLimit_64"] = Get("createPerSec_64") / Get("commitLimitPerSec"),
            ["endToEnd2WorkersVs1"] = Get("endToEndPerSec_2workers") / Get("endToEndPerSec"),
            ["createPerSec1MVsEmpty"] = Get("createPerSec_1M") / Get("createPerSec"),
            ["createP99Ms1MVsEmpty"] = Get("createP99Ms_1M") / Get("createP99Ms"),
            ["endToEndPerSec1MVsEmpty"] = Get("endToEndPerSec_1M") / Get("endToEndPerSec"),
            ["endToEndP99Ms1MVsEmpty"] = Get("endToEndP99Ms_1M") / Get("endToEndP99Ms"),
            ["concurrency8Vs1"] = Get("concurrency8PerSec") / Get("concurrency1PerSec"),
            ["concurrency32Vs1"] = Get("concurrency32PerSec") / Get("concurrency1PerSec"),
        };

        // Ratios of figures a run did not measure (the quick run has no 8/64 clients, 2 workers, 1M rows, concurrency) stay out.
        foreach (var name in ratios.Where(r => !double.IsFinite(r.Value)).Select(r => r.Key).ToList())
        {
            ratios.Remove(name);
        }

        var goals = Goals(Get, ratios);

        var now = DateTimeOffset.UtcNow;
        var json = new JsonObject
        {
            ["run"] = options.Text("run") ?? "quick",
            ["date"] = now.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["gitCommit"] = options.Text("commit"),
            ["machine"] = new JsonObject
            {
                ["cores"] = Environment.ProcessorCount,
                ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                ["dotnet"] = Environment.Version.ToString(),
            },
        };
        foreach (var (name, value) in figures)
        {
            json[name] = Round(value);
        }

        var ratioNode = new JsonObject();
        foreach (var (name, value) in ratios)
        {
            ratioNode[name] = double.IsFinite(value) ? Math.Round(value, 4) : null;
        }

        json["ratios"] = ratioNode;
        var goalNode = new JsonObject();
        foreach (var goal in goals.Values.Where(g => g.Met is not null))
        {
            goalNode[goal.Key] = new JsonObject { ["goal"] = goal.Text, ["met"] = goal.Met };
        }

        json["goals"] = goalNode;
        Directory.CreateDirectory(output);
        var text = json.ToJsonString(Indented);
        File.WriteAllText(Path.Combine(output, $"{now:yyyyMMdd'T'HHmmss'Z'}.json"), text);
        File.WriteAllText(Path.Combine(output, "latest.json"), text);

        Console.WriteLine(Table(figures, ratios, goals, json));
    }

    /// <summary>One goal of issue 10: its text and whether this run met it (null when the run did not measure it).</summary>
    private sealed record Goal(string Key, string Text, bool? Met)
    {
        public string Show() => $"{Text}: {Met switch { true => "met", false => "**not yet met**", null => "not measured" }}";
    }

    private static Dictionary<string, Goal> Goals(Func<string, double> get, SortedDictionary<string, double> r)
    {
        double R(string name) => r.TryGetValue(name, out var value) ? value : double.NaN;
        static bool? Check(double value, Func<double, bool> met) => double.IsFinite(value) ? met(value) : null;
        Goal[] goals =
        [
            new("createVsCommitLimit", "≥ 50% of the commit limit", Check(R("createVsCommitLimit"), v => v >= 0.5)),
            new("pacedCreateP99", "p99 < 50 ms at 1,000 req/s", Check(get("pacedCreateRate") >= 1000 ? get("pacedCreateP99Ms") : double.NaN, v => v < 50)),
            new("endToEndVsLeanLoop", "≥ lean loop", Check(R("endToEndVsLeanLoop"), v => v >= 1)),
            new("endToEndVsHangfire", "≥ 10× Hangfire", Check(R("endToEndVsHangfire"), v => v >= 10)),
            new("overheadP50", "< 15 ms", Check(get("overheadP50Ms"), v => v < 15)),
            new("pacedP99", "p99 < 50 ms", Check(get("pacedP99Ms"), v => v < 50)),
            new("idleP50", "< 10 ms", Check(get("idleP50Ms"), v => v < 10)),
            // "Within 10% of the empty table": rates at least 90% of the empty-table ones.
            new("createAt1M", "within 10% of the empty table", Check(R("createPerSec1MVsEmpty"), v => v >= 0.9)),
            new("endToEndAt1M", "within 10% of the empty table", Check(R("endToEndPerSec1MVsEmpty"), v => v >= 0.9)),
            new("searchP99", "< 100 ms over 100,000 chunks (issue 11)", Check(get("searchChunks") >= 100_000 ? get("searchP99Ms") : double.NaN, v => v < 100)),
        ];
        return goals.ToDictionary(g => g.Key);
    }

    private static string Table(SortedDictionary<string, double> f, SortedDictionary<string, double> r, Dictionary<string, Goal> goals, JsonObject json)
    {
        double Get(string name) => f.TryGetValue(name, out var value) ? value : double.NaN;
        bool Has(string name) => f.ContainsKey(name);
        double R(string name) => r.TryGetValue(name, out var value) ? value : double.NaN;
        static string N(double value, string unit = "") => double.IsFinite(value) ? $"{value.ToString("#,0.#", CultureInfo.InvariantCulture)}{unit}" : "n/a";
        static string X(double value) => double.IsFinite(value) ? $"{value.ToString("0.00", CultureInfo.InvariantCulture)}×" : "n/a";
        static string P(double value) => double.IsFinite(value) ? $"{(value * 100).ToString("0.##", CultureInfo.InvariantCulture)}%" : "n/a";
        string G(string key) => goals[key].Show();
        string Create(string s) => $"{N(Get("createPerSec" + s), "/s")}; POST p50 {N(Get("createP50Ms" + s), " ms")}, p99 {N(Get("createP99Ms" + s), " ms")}; errors {N(Get("createErrors" + s))}";
        // "median of 3 rounds, min–max" when the step ran several rounds.
        string Spread(string figure, string rounds, string s, string unit) => Get(rounds + s) > 1
            ? $"median of {N(Get(rounds + s))} rounds, {N(Get(figure + "Min" + s))}–{N(Get(figure + "Max" + s), unit)}"
            : "";
        string InParentheses(string text) => text.Length > 0 ? $" ({text})" : "";
        string EndToEnd(string s) => $"{N(Get("endToEndPerSec" + s), " tasks/s")}{InParentheses(Spread("endToEndPerSec", "endToEndPerSecRounds", s, " tasks/s"))}; p50 {N(Get("endToEndP50Ms" + s), " ms")}, p95 {N(Get("endToEndP95Ms" + s), " ms")}, p99 {N(Get("endToEndP99Ms" + s), " ms")}; overhead p50 {N(Get("overheadP50Ms" + s), " ms")}";

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Run: {json["run"]}, {json["date"]}, commit {json["gitCommit"]}, {Environment.ProcessorCount} cores, ServiceB concurrency {N(Get("workerConcurrency"))}, warm-up {N(Get("warmupTasks"))} tasks");
        sb.AppendLine();
        sb.AppendLine("| scenario | figure | goal (issue 10) |");
        sb.AppendLine("| --- | --- | --- |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| commit limit (pgbench, 1-row jsonb insert, 32 clients) | {N(Get("commitLimitPerSec"), "/s")} | |");
        foreach (var clients in new[] { 8, 64 }.Where(c => Has($"createPerSec_{c}")))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| create ({clients} clients) | {Create($"_{clients}")}; {P(R($"createVsCommitLimit_{clients}"))} of the commit limit | |");
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"| create ({N(Get("createClients"))} clients) | {Create("")}; {P(R("createVsCommitLimit"))} of the commit limit | {G("createVsCommitLimit")} |");
        if (Has("pacedCreateRate"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| create paced {N(Get("pacedCreateRate"))} req/s | POST p50 {N(Get("pacedCreateP50Ms"), " ms")}, p99 {N(Get("pacedCreateP99Ms"), " ms")}; errors {N(Get("pacedCreateErrors"))} | {G("pacedCreateP99")} |");
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"| end to end ({N(Get("endToEndTasks"))} tasks, burst, POST → Succeeded) | {EndToEnd("")} | {G("endToEndVsLeanLoop")}; {G("endToEndVsHangfire")} |");
        if (Has("endToEndPerSec_2workers"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| end to end, 2 ServiceB instances ({N(Get("endToEndTasks_2workers"))} tasks; {N(Get("endToEndWorkerIds_2workers"))} workers seen) | {EndToEnd("_2workers")}; {X(R("endToEnd2WorkersVs1"))} one instance | |");
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"| end to end, per task | machine CPU {N(Get("endToEndCpuMsPerTask"), " ms")} (every process{(Spread("endToEndCpuMsPerTask", "endToEndPerSecRounds", "", " ms") is { Length: > 0 } cpu ? "; " + cpu : "")}); p50 of accept {N(Get("endToEndAcceptP50Ms"), " ms")}, queue to start {N(Get("endToEndDispatchP50Ms"), " ms")}, start to end {N(Get("endToEndFinishP50Ms"), " ms")} | |");
        if (Has("endToEndCpuMsPerTaskApi"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| end to end, CPU per task by part | {string.Join(", ", ProcessCpu.Parts.Select(p => $"{p.Name} {N(Get("endToEndCpuMsPerTask" + p.Name), " ms")}"))} (the rest: the AppHost's proxy, the kernel's threads, others) | |");
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"| platform overhead p50 (end to end − model time) | {N(Get("overheadP50Ms"), " ms")} | {G("overheadP50")} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| paced {N(Get("pacedRate"))}/s, POST → Succeeded | p50 {N(Get("pacedP50Ms"), " ms")}, p99 {N(Get("pacedP99Ms"), " ms")}{InParentheses(Spread("pacedP99Ms", "pacedP99MsRounds", "", " ms"))}; errors {N(Get("pacedErrors"))} | {G("pacedP99")} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| idle, one task at a time ({N(Get("idleTasks"))}), POST → Succeeded | p50 {N(Get("idleP50Ms"), " ms")}, p99 {N(Get("idleP99Ms"), " ms")}; p50 of accept {N(Get("idleAcceptP50Ms"), " ms")}, queue to start {N(Get("idleDispatchP50Ms"), " ms")}, start to end {N(Get("idleFinishP50Ms"), " ms")} | {G("idleP50")} (p50) |");
        if (Has("seedTasks"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| scale: {N(Get("seedTasks"))} existing tasks ({N(Get("seedRows"))} rows seeded in {N(Get("seedSeconds"), " s")}), create | {Create("_1M")}; rate {X(R("createPerSec1MVsEmpty"))}, p99 {X(R("createP99Ms1MVsEmpty"))} the empty table's | {G("createAt1M")} |");
            sb.AppendLine(CultureInfo.InvariantCulture, $"| scale: {N(Get("seedTasks"))} existing tasks, end to end | {EndToEnd("_1M")}; rate {X(R("endToEndPerSec1MVsEmpty"))}, p99 {X(R("endToEndP99Ms1MVsEmpty"))} the empty table's | {G("endToEndAt1M")} |");
        }

        if (Has("concurrencyModelLatencyMs"))
        {
            var levels = f.Keys.Select(k => System.Text.RegularExpressions.Regex.Match(k, "^concurrency([0-9]+)PerSec$")).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Order();
            var text = string.Join("; ", levels.Select(l => $"{l}: {N(Get($"concurrency{l}PerSec"), " tasks/s")} (ideal {N(Get($"concurrency{l}IdealPerSec"))}, {N(Get($"concurrency{l}Tasks"))} tasks)"));
            sb.AppendLine(CultureInfo.InvariantCulture, $"| ServiceB concurrency, Local model {N(Get("concurrencyModelLatencyMs"), " ms")} per task | {text} | |");
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"| Hangfire ({N(Get("hangfireWorkers"))} workers, {N(Get("hangfireJobs"))} no-op jobs) | enqueue {N(Get("hangfireEnqueuePerSec"), "/s")}; end to end {N(Get("hangfirePerSec"), " jobs/s")} | ours {X(R("endToEndVsHangfire"))} |");
        if (Has("searchChunks"))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| Embedding_Search over {N(Get("searchChunks"))} chunks (local embedding, exact scan, top 10) | warm p50 {N(Get("searchP50Ms"), " ms")}, p99 {N(Get("searchP99Ms"), " ms")}; first search (loads the vectors) {N(Get("searchColdMs"), " ms")} | {G("searchP99")} |");
        }

        sb.AppendLine(CultureInfo.InvariantCulture, $"| lean loop (Npgsql + RabbitMQ confirms, 4 producers, 2 consumers, {N(Get("leanLoopTasks"))} tasks) | {N(Get("leanLoopPerSec"), " tasks/s")} | ours {X(R("endToEndVsLeanLoop"))} |");
        return sb.ToString();
    }

    private static JsonNode? Round(double value) => double.IsFinite(value) ? Math.Round(value, 2) : null;
}
