using System.Text.Json;
using AssistenteIa.Benchmarks;

// Benchmark scenarios, one per mode; ./bench.sh runs them one after another and reports (see README "Performance").
//   dotnet run -c Release --project AssistenteIa.Benchmarks -- <scenario> [--option value ...] [--out part.json]
// Scenarios: commit-limit, system (idle, create, end to end, paced, scale), concurrency, hangfire, lean-loop, search, report.
// Every scenario uses the local servers started by scripts/infra.sh and scratch databases it drops afterwards.
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: AssistenteIa.Benchmarks <commit-limit|system|concurrency|hangfire|lean-loop|search|report> [--option value ...]");
    return 2;
}

var options = Options.Parse(args[1..]);
if (args[0] == "report")
{
    Report.Write(options);
    return 0;
}

Dictionary<string, double> figures = args[0] switch
{
    "commit-limit" => await CommitLimit.RunAsync(options),
    "system" => await SystemBenchmark.RunAsync(options),
    "concurrency" => await ConcurrencyBenchmark.RunAsync(options),
    "hangfire" => await HangfireBenchmark.RunAsync(options),
    "lean-loop" => await LeanLoop.RunAsync(options),
    "search" => await SearchBenchmark.RunAsync(options),
    _ => throw new ArgumentException($"Unknown scenario '{args[0]}'."),
};

foreach (var (name, value) in figures)
{
    Console.WriteLine($"  {name} = {value:0.##}");
}

if (options.Text("out") is { } path)
{
    await File.WriteAllTextAsync(path, JsonSerializer.Serialize(figures));
}

return 0;
