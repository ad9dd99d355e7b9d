using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Commands.CreateTask;
using AssistenteIa.Application.Tenants;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Tests.Integration;

/// <summary>Tenant input that used to reach a 500 or poison the pipeline, and the idempotency, quota and list rules around it.</summary>
[Collection(AppCollection.Name)]
public sealed class InputHardeningTests(AppFixture fixture)
{
    private const string Type = """{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"}""";

    [Theory]
    [InlineData("payload.prompt", """{"prompt":"a\u0000b"}""")]
    [InlineData("payload.context", """{"prompt":"p","context":"c\u0000"}""")]
    [InlineData("payload.parameters.tone", """{"prompt":"p","parameters":{"tone":["ok","x\u0000"]}}""")]
    [InlineData("payload.parameters", """{"prompt":"p","parameters":{"k\u0000":1}}""")]
    public async Task A_NUL_character_anywhere_in_the_payload_is_400_problem_naming_the_field(string field, string payload)
    {
        using var client = fixture.CreateApiClient();
        var before = await CountTasksAsync();

        using var response = await TaskApi.PostRawAsync(client, $$"""{"type":{{Type}},"payload":{{payload}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        Assert.True(problem.GetProperty("errors").EnumerateObject().Any(e => e.Name.StartsWith(field, StringComparison.Ordinal)), problem.ToString());
        Assert.Equal(before, await CountTasksAsync());
    }

    [Theory]
    [InlineData("payload.parameters.t", """{"prompt":"p","parameters":{"t":1e1000000}}""")]
    [InlineData("payload.parameters.t[1]", """{"prompt":"p","parameters":{"t":[1,-1e-16400]}}""")]
    [InlineData("payload.parameters.t", """{"prompt":"p","parameters":{"t":0e-1000000}}""")]
    [InlineData("payload.parameters.t", """{"prompt":"p","parameters":{"t":1e309}}""")]
    [InlineData("payload.parameters.t", "LONG INTEGER")]
    [InlineData("payload.parameters.t", "LONG FRACTION")]
    public async Task A_number_the_database_cannot_store_is_400_problem_naming_the_field(string field, string payload)
    {
        // PostgreSQL's jsonb keeps numbers as numeric: beyond 131,072 digits before the point or 16,383 after it the
        // insert fails (it used to answer 500), and below that a few bytes ("1e100000") are stored as 100,000 digits.
        payload = payload switch
        {
            "LONG INTEGER" => """{"prompt":"p","parameters":{"t":""" + new string('9', 140_000) + "}}",
            "LONG FRACTION" => """{"prompt":"p","parameters":{"t":0.""" + new string('1', 20_000) + "}}",
            _ => payload,
        };
        using var client = fixture.CreateApiClient();
        var before = await CountTasksAsync();

        using var response = await TaskApi.PostRawAsync(client, $$"""{"type":{{Type}},"payload":{{payload}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        Assert.Equal(before, await CountTasksAsync());
    }

    [Fact]
    public async Task Numbers_are_counted_against_the_payload_limit_as_the_database_stores_them()
    {
        // 2,000 × "1e308" is 12 KB sent and 618 KB stored (numeric writes all 309 digits), over the 256 KiB limit.
        using var client = fixture.CreateApiClient();
        var before = await CountTasksAsync();
        var numbers = string.Join(',', Enumerable.Repeat("1e308", 2_000));

        // The prompt holds the six characters \u0000 (an escaped backslash, not a NUL): the text check then looks
        // closer, which once skipped counting the numbers.
        using var response = await TaskApi.PostRawAsync(client, "{\"type\":" + Type + ",\"payload\":{\"prompt\":\"p \\\\u0000\",\"parameters\":{\"t\":[" + numbers + "]}}}");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        await TaskApi.ProblemAsync(response);
        Assert.Equal(before, await CountTasksAsync());
    }

    [Fact]
    public async Task Numbers_a_double_can_hold_are_accepted_and_stored()
    {
        using var client = fixture.CreateApiClient();
        const string numbers = "[1.7e308,-2.5e-300,123456789012345678901234567890,0e300,0.000001]";

        var task = await TaskApi.CreateAsync(client, new { type = JsonDocument.Parse(Type).RootElement, payload = new { prompt = "p", parameters = new { t = JsonDocument.Parse(numbers).RootElement } } });

        var stored = JsonDocument.Parse(await fixture.ScalarAsync<string>("""SELECT "PayloadJson"::text FROM "Tasks" WHERE "Id" = @p0""", task.Id));
        var values = stored.RootElement.GetProperty("parameters").GetProperty("t").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal([1.7e308, -2.5e-300, 123456789012345678901234567890d, 0, 0.000001], values);
    }

    [Theory]
    [InlineData("gpt-99")]
    [InlineData("LONG")]
    public async Task A_model_that_is_not_configured_is_400_problem_listing_the_allowed_ones(string model)
    {
        using var client = fixture.CreateApiClient();
        model = model == "LONG" ? new string('m', 300) : model;
        var before = await CountTasksAsync();

        using var response = await TaskApi.PostAsync(client, new { type = JsonDocument.Parse(Type).RootElement, payload = new { prompt = "p", model } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        var message = problem.GetProperty("errors").GetProperty("payload.model")[0].GetString();
        Assert.Contains("local-echo-1", message);
        Assert.Contains("gpt-4o-mini", message);
        Assert.Equal(before, await CountTasksAsync());
    }

    [Fact]
    public async Task A_configured_model_is_accepted_and_priced_by_the_price_table()
    {
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, new { type = JsonDocument.Parse(Type).RootElement, payload = new { prompt = "use another model", model = "gpt-4o" } });

        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Succeeded);
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Equal("gpt-4o", attempt.Model);
        Assert.Equal(((attempt.TokensIn * 2.50m) + (attempt.TokensOut * 10.00m)) / 1_000_000m, attempt.Cost);
    }

    [Fact]
    public async Task An_idempotent_retry_gets_the_original_task_even_when_the_request_would_no_longer_validate()
    {
        using var client = fixture.CreateApiClient();
        var key = $"late-retry-{Guid.NewGuid():N}";
        var scheduledAt = DateTimeOffset.UtcNow.AddDays(-1);
        var body = new { type = JsonDocument.Parse(Type).RootElement, payload = new { prompt = "retried a day later" }, scheduledAt };

        // The first request was accepted a day ago, when its scheduledAt was still ahead.
        var command = new CreateTaskCommand(
            "tenant-a", new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async), Priority.Normal,
            new TaskPayload { Prompt = "retried a day later" }, null, scheduledAt, key);
        var original = AiTask.Create(
            Guid.CreateVersion7(), "tenant-a", command.Type, Priority.Normal, """{"prompt":"retried a day later"}""", 3, key,
            RequestFingerprint.Of(command, new TaskOptions()), Guid.NewGuid().ToString("N"), scheduledAt, scheduledAt.AddMinutes(-1));
        original.Cancel(scheduledAt);
        await using (var db = CreateDbContext())
        {
            db.Tasks.Add(original);
            await db.SaveChangesAsync();
        }

        using var response = await TaskApi.PostAsync(client, body, key);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(original.Id, (await response.Content.ReadFromJsonAsync<TaskDto>(Json.Options))!.Id);
    }

    [Fact]
    public async Task An_idempotent_retry_with_defaults_spelled_out_and_keys_reordered_is_the_same_request()
    {
        using var client = fixture.CreateApiClient();
        var key = $"canonical-{Guid.NewGuid():N}";
        var first = "{\"type\":" + Type + ""","payload":{"prompt":"p","parameters":{"a":1,"b":{"x":1,"y":2}}}}""";
        var retry = $$"""{"maxAttempts":3,"priority":"Normal","payload":{"parameters":{"b":{"y":2,"x":1},"a":1},"context":null,"prompt":"p"},"type":{{Type}}}""";

        using var created = await PostRawAsync(client, first, key);
        using var replayed = await PostRawAsync(client, retry, key);

        Assert.Equal(HttpStatusCode.Accepted, created.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, replayed.StatusCode);
        Assert.Equal(
            (await created.Content.ReadFromJsonAsync<TaskDto>(Json.Options))!.Id,
            (await replayed.Content.ReadFromJsonAsync<TaskDto>(Json.Options))!.Id);
    }

    [Fact]
    public async Task A_tenant_over_its_Critical_quota_gets_429_problem_until_one_finishes()
    {
        // Tests configure Tasks:MaxCriticalPerTenant = 5; tasks scheduled for later stay unfinished.
        using var client = fixture.CreateApiClient(AppFixture.TenantBKey);
        object Critical() => new
        {
            type = JsonDocument.Parse(Type).RootElement,
            priority = "Critical",
            payload = new { prompt = "urgent" },
            scheduledAt = DateTimeOffset.UtcNow.AddHours(1),
        };
        var open = new List<Guid>();
        try
        {
            for (var i = 0; i < 5; i++)
            {
                open.Add((await TaskApi.CreateAsync(client, Critical())).Id);
            }

            using var refused = await TaskApi.PostAsync(client, Critical());
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Contains("Critical", (await TaskApi.ProblemAsync(refused)).GetProperty("detail").GetString());

            (await client.PostAsync($"/api/v1/tasks/{open[0]}/cancel", null)).EnsureSuccessStatusCode();
            open.RemoveAt(0);
            open.Add((await TaskApi.CreateAsync(client, Critical())).Id);
        }
        finally
        {
            foreach (var id in open)
            {
                (await client.PostAsync($"/api/v1/tasks/{id}/cancel", null)).Dispose();
            }
        }
    }

    [Fact]
    public async Task The_list_leaves_payloads_out_unless_asked_for()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "payload in the list?"));

        var summary = (await client.GetFromJsonAsync<List<TaskDto>>("/api/v1/tasks?pageSize=100", Json.Options))!.Single(t => t.Id == task.Id);
        var full = (await client.GetFromJsonAsync<List<TaskDto>>("/api/v1/tasks?pageSize=100&includePayload=true", Json.Options))!.Single(t => t.Id == task.Id);

        Assert.Null(summary.Payload);
        Assert.Equal("payload in the list?", full.Payload!.Value.GetProperty("prompt").GetString());
        Assert.Equal(task.CorrelationId, summary.CorrelationId);
    }

    [Fact]
    public async Task The_total_count_stops_at_its_cap_and_says_so()
    {
        const string Tenant = "tenant-count";
        const string Key = "test-key-tenant-count";
        await using (var db = CreateDbContext())
        {
            await ApiKeyCacheTests.Service(db).EnsureKeyAsync(Tenant, Key, CancellationToken.None);
        }

        await fixture.ExecuteAsync($$"""
            INSERT INTO "Tasks" ("Id", "TenantId", "DomainType", "CapabilityType", "TaskExecutionType", "Priority", "Status", "PayloadJson",
                "CorrelationId", "MaxAttempts", "AttemptCount", "InterruptedAttempts", "CancelRequested", "CreatedAt", "UpdatedAt", "Version")
            SELECT gen_random_uuid(), '{{Tenant}}', 'DataAnalysis', 'LLM_Generation', 'Async', 'Normal', 'Succeeded', '{"prompt":"seeded"}',
                md5(i::text), 3, 1, 0, false, now() - i * interval '1 second', now(), 0
            FROM generate_series(1, 10050) AS i
            WHERE NOT EXISTS (SELECT 1 FROM "Tasks" WHERE "TenantId" = '{{Tenant}}');
            """);
        using var client = fixture.CreateApiClient(Key);

        using var response = await client.GetAsync("/api/v1/tasks?pageSize=5");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("10000", response.Headers.GetValues("X-Total-Count").Single());
        Assert.Equal("true", response.Headers.GetValues("X-Total-Count-Capped").Single());
        using var exact = await client.GetAsync("/api/v1/tasks?pageSize=5&status=Queued");
        Assert.Equal("0", exact.Headers.GetValues("X-Total-Count").Single());
        Assert.False(exact.Headers.Contains("X-Total-Count-Capped"));
    }

    [Fact]
    public async Task A_thousand_hostile_requests_get_no_5xx_and_create_nothing()
    {
        var startedAt = DateTimeOffset.UtcNow;
        var tasksBefore = await CountTasksAsync();
        var failures = new List<string>();
        var count = 0;
        using var client = fixture.CreateApiClient();
        using var anonymous = fixture.CreateApiClient(apiKey: null);

        foreach (var (what, request) in HostileRequests.Generate(seed: 20261125, client.BaseAddress!))
        {
            count++;
            using (request)
            {
                try
                {
                    using var response = await (request.Headers.Contains("X-Api-Key") ? anonymous : client).SendAsync(request);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        failures.Add($"accepted (every generated request is invalid): {what}");
                    }
                    else if ((int)response.StatusCode >= 500)
                    {
                        failures.Add($"{(int)response.StatusCode} for {what}: {await response.Content.ReadAsStringAsync()}");
                    }
                    else if ((int)response.StatusCode is >= 400 and not 404 and not 405 and not 431 and not 414 && response.Content.Headers.ContentType?.MediaType is { } type && type != "application/problem+json")
                    {
                        failures.Add($"{(int)response.StatusCode} as {type} for {what}");
                    }
                }
                catch (HttpRequestException ex)
                {
                    // Kestrel may close the connection on a request it cannot parse; that is not a 5xx.
                    if (ex.InnerException is not IOException)
                    {
                        failures.Add($"{what}: {ex.Message}");
                    }
                }
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {count}:\n" + string.Join("\n", failures.Take(20)));
        Assert.True(count >= 1000, $"only {count} requests generated");
        Assert.Equal(tasksBefore, await CountTasksAsync());
        Assert.Equal(0L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" WHERE "CreatedAt" >= @p0""", startedAt));
    }

    private static async Task<HttpResponseMessage> PostRawAsync(HttpClient client, string json, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", key);
        return await client.SendAsync(request);
    }

    private AppDbContext CreateDbContext() => new(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(fixture.DatabaseConnectionString).Options);

    private Task<long> CountTasksAsync() => fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" """);
}
