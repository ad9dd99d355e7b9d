using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AssistenteIa.Application.Stats.Queries.GetStats;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tenants;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Tests.Integration;

/// <summary>GET /api/v1/stats: the tenant's own tasks counted by the database, zero-filled per bucket, refused when the window is bad.</summary>
[Collection(AppCollection.Name)]
public sealed class StatsTests(AppFixture fixture)
{
    private static readonly object Type = new { domain = "DataAnalysis", capability = "LLM_Generation", execution = "Async" };

    [Fact]
    public async Task Stats_show_the_tenants_tasks_by_status_in_throughput_with_latency_and_usage_per_model()
    {
        using var client = await fixture.CreateTenantClientAsync("stats");
        var from = DateTimeOffset.UtcNow.AddSeconds(-5);
        var succeeded = new[]
        {
            await TaskApi.CreateAsync(client, new { type = Type, payload = new { prompt = "default model" } }),
            await TaskApi.CreateAsync(client, new { type = Type, payload = new { prompt = "priced model", model = "gpt-4o" } }),
            await TaskApi.CreateAsync(client, new { type = Type, payload = new { prompt = "retried once", simulation = new { failAttempts = 1, failure = "Transient" } } }),
        };
        var deadLettered = await TaskApi.CreateAsync(client, new { type = Type, payload = new { prompt = "fails for good", simulation = new { failAttempts = 1, failure = "Permanent" } } });
        var cancelled = await TaskApi.CreateAsync(client, new { type = Type, payload = new { prompt = "never runs" }, scheduledAt = DateTimeOffset.UtcNow.AddDays(1) });
        (await client.PostAsync($"/api/v1/tasks/{cancelled.Id}/cancel", null)).EnsureSuccessStatusCode();
        var tasks = succeeded.Append(deadLettered).Append(cancelled).ToList();
        foreach (var task in tasks)
        {
            await TaskApi.WaitForTerminalAsync(client, task.Id);
        }

        var to = DateTimeOffset.UtcNow.AddMinutes(1);

        var stats = await StatsAsync(client, from, to, "minute");

        Assert.Equal("minute", stats.GetProperty("bucket").GetString());
        var byStatus = stats.GetProperty("byStatus").EnumerateArray().ToDictionary(s => s.GetProperty("status").GetString()!, s => s.GetProperty("count").GetInt64());
        Assert.Equal(Enum.GetNames<AiTaskStatus>().Order(), byStatus.Keys.Order());
        Assert.Equal(3, byStatus["Succeeded"]);
        Assert.Equal(1, byStatus["DeadLetter"]);
        Assert.Equal(1, byStatus["Cancelled"]);
        Assert.Equal(5, byStatus.Values.Sum());

        var throughput = stats.GetProperty("throughput").EnumerateArray().ToList();
        var starts = throughput.Select(b => b.GetProperty("start").GetDateTimeOffset()).ToList();
        Assert.Equal(Minute(from), starts[0]);
        Assert.Equal(Minute(to.AddTicks(-1)), starts[^1]);
        Assert.All(starts.Zip(starts.Skip(1)), pair => Assert.Equal(TimeSpan.FromMinutes(1), pair.Second - pair.First));
        Assert.Equal(5, throughput.Sum(b => b.GetProperty("created").GetInt64()));
        Assert.Equal(3, throughput.Sum(b => b.GetProperty("succeeded").GetInt64()));
        Assert.Equal(1, throughput.Sum(b => b.GetProperty("failed").GetInt64()));
        Assert.Equal(1, throughput.Sum(b => b.GetProperty("cancelled").GetInt64()));

        var latency = stats.GetProperty("latency");
        Assert.InRange(latency.GetProperty("queueWaitP50Ms").GetDouble(), 0, 60_000);
        Assert.True(latency.GetProperty("queueWaitP95Ms").GetDouble() >= latency.GetProperty("queueWaitP50Ms").GetDouble());
        Assert.InRange(latency.GetProperty("executionP50Ms").GetDouble(), 0, 60_000);
        Assert.True(latency.GetProperty("executionP95Ms").GetDouble() >= latency.GetProperty("executionP50Ms").GetDouble());
        var latencyByBucket = stats.GetProperty("latencyByBucket").EnumerateArray().ToList();
        Assert.Equal(starts, latencyByBucket.Select(b => b.GetProperty("start").GetDateTimeOffset()));
        Assert.Contains(latencyByBucket, b => b.GetProperty("executionP50Ms").ValueKind == JsonValueKind.Number);

        // Usage is what the attempts themselves recorded, summed per model.
        var attempts = new List<TaskAttemptDto>();
        foreach (var task in tasks)
        {
            attempts.AddRange(await TaskApi.AttemptsAsync(client, task.Id));
        }

        var expected = attempts.Where(a => a.Model is not null).GroupBy(a => a.Model!)
            .ToDictionary(g => g.Key, g => (Attempts: g.LongCount(), TokensIn: g.Sum(a => a.TokensIn), TokensOut: g.Sum(a => a.TokensOut), Cost: g.Sum(a => a.Cost)));
        Assert.Contains("gpt-4o", expected.Keys);
        Assert.Contains("local-echo-1", expected.Keys);
        var byModel = stats.GetProperty("usageByModel").EnumerateArray().ToDictionary(
            u => u.GetProperty("model").GetString()!,
            u => (Attempts: u.GetProperty("attempts").GetInt64(), TokensIn: u.GetProperty("tokensIn").GetInt64(), TokensOut: u.GetProperty("tokensOut").GetInt64(), Cost: u.GetProperty("cost").GetDecimal()));
        Assert.Equal(expected.OrderBy(e => e.Key), byModel.OrderBy(e => e.Key));
        Assert.True(byModel["gpt-4o"].Cost > 0 && byModel["gpt-4o"].TokensIn > 0 && byModel["gpt-4o"].TokensOut > 0);
        var byDay = stats.GetProperty("usageByDay").EnumerateArray().ToList();
        Assert.All(byDay, d => Assert.Matches(@"^\d{4}-\d{2}-\d{2}$", d.GetProperty("day").GetString()));
        Assert.Equal(
            byModel.ToDictionary(m => m.Key, m => m.Value.Cost).OrderBy(e => e.Key),
            byDay.GroupBy(d => d.GetProperty("model").GetString()!).ToDictionary(g => g.Key, g => g.Sum(d => d.GetProperty("cost").GetDecimal())).OrderBy(e => e.Key));
        Assert.Equal(attempts.Count(a => a.Model is not null), byDay.Sum(d => d.GetProperty("attempts").GetInt64()));

        // Another tenant, the same window: none of it.
        using var other = await fixture.CreateTenantClientAsync("stats");
        var others = await StatsAsync(other, from, to, "minute");
        Assert.All(others.GetProperty("byStatus").EnumerateArray(), s => Assert.Equal(0, s.GetProperty("count").GetInt64()));
        Assert.All(others.GetProperty("throughput").EnumerateArray(), b => Assert.Equal(0, b.GetProperty("created").GetInt64() + b.GetProperty("succeeded").GetInt64() + b.GetProperty("failed").GetInt64() + b.GetProperty("cancelled").GetInt64()));
        Assert.Equal(JsonValueKind.Null, others.GetProperty("latency").GetProperty("executionP50Ms").ValueKind);
        Assert.Equal(JsonValueKind.Null, others.GetProperty("latency").GetProperty("queueWaitP50Ms").ValueKind);
        Assert.Empty(others.GetProperty("usageByModel").EnumerateArray());
        Assert.Empty(others.GetProperty("usageByDay").EnumerateArray());
    }

    [Fact]
    public async Task Without_parameters_stats_cover_the_last_24_hours_by_hour()
    {
        using var client = fixture.CreateApiClient();
        var before = DateTimeOffset.UtcNow;

        using var response = await client.GetAsync("/api/v1/stats");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stats = await response.Content.ReadFromJsonAsync<JsonElement>();
        var from = stats.GetProperty("from").GetDateTimeOffset();
        var to = stats.GetProperty("to").GetDateTimeOffset();
        Assert.Equal(TimeSpan.FromHours(24), to - from);
        Assert.InRange(to, before.AddSeconds(-5), DateTimeOffset.UtcNow.AddSeconds(5));
        Assert.Equal("hour", stats.GetProperty("bucket").GetString());
        Assert.InRange(stats.GetProperty("throughput").GetArrayLength(), 24, 25);
        Assert.Equal(Enum.GetNames<AiTaskStatus>().Length, stats.GetProperty("byStatus").GetArrayLength());
    }

    [Theory]
    [InlineData("from=yesterday", "from")]
    [InlineData("to=2026-13-01T00:00:00Z", "to")]
    [InlineData("from=1700000000", "from")]
    [InlineData("to=0001-01-01T00:00:00Z", "to")]
    [InlineData("from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z", "from")]
    [InlineData("to=9999-12-31T23:59:59Z", "to")]
    [InlineData("bucket=week", "bucket")]
    [InlineData("bucket=Hour", "bucket")]
    [InlineData("bucket=1", "bucket")]
    [InlineData("from=2026-11-25T10:00:00Z&to=2026-11-25T10:00:00Z", "from")]
    [InlineData("from=2026-11-25T11:00:00Z&to=2026-11-25T10:00:00Z", "from")]
    [InlineData("from=2026-10-01T00:00:00Z&to=2026-11-05T00:00:00Z", "to")]
    [InlineData("from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z&bucket=minute", "bucket")]
    public async Task Bad_stats_parameters_are_400_problem_naming_the_field(string query, string field)
    {
        using var client = fixture.CreateApiClient();

        using var response = await client.GetAsync($"/api/v1/stats?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task The_largest_minute_window_is_accepted()
    {
        using var client = fixture.CreateApiClient();

        var stats = await StatsAsync(client, new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(GetStatsHandler.MaxBuckets), "minute");

        Assert.Equal(GetStatsHandler.MaxBuckets, stats.GetProperty("throughput").GetArrayLength());
        Assert.Equal(GetStatsHandler.MaxBuckets, stats.GetProperty("latencyByBucket").GetArrayLength());
    }

    [Fact]
    public async Task Stats_without_an_api_key_are_401_problem()
    {
        using var client = fixture.CreateApiClient(apiKey: null);

        using var response = await client.GetAsync("/api/v1/stats");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await TaskApi.ProblemAsync(response);
    }

    private static DateTimeOffset Minute(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerMinute), TimeSpan.Zero);

    private static async Task<JsonElement> StatsAsync(HttpClient client, DateTimeOffset from, DateTimeOffset to, string bucket)
    {
        var query = $"from={Uri.EscapeDataString(from.ToString("O", CultureInfo.InvariantCulture))}&to={Uri.EscapeDataString(to.ToString("O", CultureInfo.InvariantCulture))}&bucket={bucket}";
        using var response = await client.GetAsync($"/api/v1/stats?{query}");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
