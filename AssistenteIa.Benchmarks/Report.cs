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
        };

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
        Directory.CreateDirectory(output);
        var text = json.ToJsonString(Indented);
        File.WriteAllText(Path.Combine(output, $"{now:yyyyMMdd'T'HHmmss'Z'}.json"), text);
        File.WriteAllText(Path.Combine(output, "latest.json"), text);

        Console.WriteLine(Table(figures, ratios, json));
    }

    private static string Table(SortedDictionary<string, double> f, SortedDictionary<string, double> r, JsonObject json)
    {
        double Get(string name) => f.TryGetValue(name, out var value) ? value : double.NaN;
        static string N(double value, string unit = "") => double.IsFinite(value) ? $"{value.ToString("#,0.#", CultureInfo.InvariantCulture)}{unit}" : "n/a";
        static string X(double value) => double.IsFinite(value) ? $"{value.ToString("0.00", CultureInfo.InvariantCulture)}×" : "n/a";
        static string P(double value) => double.IsFinite(value) ? $"{(value * 100).ToString("0.##", CultureInfo.InvariantCulture)}%" : "n/a";
        static string Goal(bool met) => met ? "met" : "**not yet met**";

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Run: {json["run"]}, {json["date"]}, commit {json["gitCommit"]}, {Environment.ProcessorCount} cores, ServiceB concurrency {N(Get("workerConcurrency"))}");
        sb.AppendLine();
        sb.AppendLine("| scenario | figure | goal (issue 10) |");
        sb.AppendLine("| --- | --- | --- |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| commit limit (pgbench, 1-row jsonb insert, 32 clients) | {N(Get("commitLimitPerSec"), "/s")} | |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| create ({N(Get("createClients"))} clients) | {N(Get("createPerSec"), "/s")} = {P(r["createVsCommitLimit"])} of the commit limit; POST p50 {N(Get("createP50Ms"), " ms")}, p99 {N(Get("createP99Ms"), " ms")}; errors {N(Get("createErrors"))} | ≥ 50% of the commit limit: {Goal(r["createVsCommitLimit"] >= 0.5)} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| end to end (burst, POST → Succeeded) | {N(Get("endToEndPerSec"), " tasks/s")}; p50 {N(Get("endToEndP50Ms"), " ms")}, p95 {N(Get("endToEndP95Ms"), " ms")}, p99 {N(Get("endToEndP99Ms"), " ms")} | ≥ lean loop: {Goal(r["endToEndVsLeanLoop"] >= 1)}; ≥ 10× Hangfire: {Goal(r["endToEndVsHangfire"] >= 10)} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| platform overhead p50 (end to end − model time) | {N(Get("overheadP50Ms"), " ms")} | < 15 ms: {Goal(Get("overheadP50Ms") < 15)} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| paced {N(Get("pacedRate"))}/s, POST → Succeeded | p50 {N(Get("pacedP50Ms"), " ms")}, p99 {N(Get("pacedP99Ms"), " ms")}; errors {N(Get("pacedErrors"))} | p99 < 50 ms: {Goal(Get("pacedP99Ms") < 50)} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| Hangfire ({N(Get("hangfireWorkers"))} workers, no-op jobs) | enqueue {N(Get("hangfireEnqueuePerSec"), "/s")}; end to end {N(Get("hangfirePerSec"), " jobs/s")} | ours {X(r["endToEndVsHangfire"])} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| lean loop (Npgsql + RabbitMQ confirms, 4 producers, 2 consumers) | {N(Get("leanLoopPerSec"), " tasks/s")} | ours {X(r["endToEndVsLeanLoop"])} |");
        return sb.ToString();
    }

    private static JsonNode? Round(double value) => double.IsFinite(value) ? Math.Round(value, 2) : null;
}
