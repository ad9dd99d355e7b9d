using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

[Collection(AppCollection.Name)]
public sealed class TaskContractTests(AppFixture fixture)
{
    private static readonly DateTimeOffset FarFuture = DateTimeOffset.UtcNow.AddDays(30);

    [Fact]
    public async Task Create_answers_202_with_Location_and_the_task_representation()
    {
        using var client = fixture.CreateApiClient();

        using var response = await TaskApi.PostAsync(client, TaskApi.Body(priority: "High", maxAttempts: 5));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = body.GetProperty("id").GetGuid();
        Assert.Equal($"/api/v1/tasks/{id}", response.Headers.Location!.OriginalString);
        foreach (var field in new[] { "id", "type", "priority", "status", "payload", "attemptCount", "maxAttempts", "lastError", "scheduledAt", "createdAt", "updatedAt", "correlationId", "cancelRequested" })
        {
            Assert.True(body.TryGetProperty(field, out _), $"missing {field}");
        }

        Assert.Equal("High", body.GetProperty("priority").GetString());
        Assert.Equal(5, body.GetProperty("maxAttempts").GetInt32());
        Assert.Equal("LLM_Generation", body.GetProperty("type").GetProperty("capability").GetString());
        Assert.Equal("Summarise the context", body.GetProperty("payload").GetProperty("prompt").GetString());
    }

    [Fact]
    public async Task A_call_without_an_api_key_is_401_problem()
    {
        using var client = fixture.CreateApiClient(apiKey: null);

        using var response = await client.GetAsync("/api/v1/tasks");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        Assert.Contains("X-Api-Key", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_call_with_an_unknown_api_key_is_401_problem_and_creates_nothing()
    {
        using var client = fixture.CreateApiClient(apiKey: "not-a-key");
        var before = await CountTasksAsync();

        using var response = await TaskApi.PostAsync(client, TaskApi.Body());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await TaskApi.ProblemAsync(response);
        Assert.Equal(before, await CountTasksAsync());
    }

    [Fact]
    public async Task Another_tenants_task_is_not_found_on_every_endpoint()
    {
        using var tenantA = fixture.CreateApiClient(AppFixture.TenantAKey);
        using var tenantB = fixture.CreateApiClient(AppFixture.TenantBKey);
        var task = await TaskApi.CreateAsync(tenantA, TaskApi.Body());

        foreach (var path in new[] { "", "/attempts", "/artifacts" })
        {
            using var response = await tenantB.GetAsync($"/api/v1/tasks/{task.Id}{path}");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            await TaskApi.ProblemAsync(response);
        }

        using var cancel = await tenantB.PostAsync($"/api/v1/tasks/{task.Id}/cancel", null);
        Assert.Equal(HttpStatusCode.NotFound, cancel.StatusCode);
        var list = await tenantB.GetFromJsonAsync<List<TaskDto>>("/api/v1/tasks?pageSize=100", Json.Options);
        Assert.DoesNotContain(list!, t => t.Id == task.Id);
    }

    [Theory]
    [InlineData("not-a-guid")]
    [InlineData("00000000-0000-0000-0000-000000000001")]
    public async Task An_unknown_or_malformed_id_is_404_problem(string id)
    {
        using var client = fixture.CreateApiClient();

        using var response = await client.GetAsync($"/api/v1/tasks/{id}");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        Assert.Equal(404, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("traceId").GetString()));
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("type").GetString()));
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
    }

    [Fact]
    public async Task The_same_idempotency_key_and_body_returns_the_same_task_once()
    {
        using var client = fixture.CreateApiClient();
        var key = Guid.NewGuid().ToString();
        var body = TaskApi.Body(prompt: "idempotent");

        using var first = await TaskApi.PostAsync(client, body, key);
        using var second = await TaskApi.PostAsync(client, body, key);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        var id = (await first.Content.ReadFromJsonAsync<TaskDto>(Json.Options))!.Id;
        Assert.Equal(id, (await second.Content.ReadFromJsonAsync<TaskDto>(Json.Options))!.Id);
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" WHERE "IdempotencyKey" = @p0""", key));
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "PayloadJson"->>'taskId' = @p0""", id.ToString()));
    }

    [Fact]
    public async Task The_same_idempotency_key_with_another_body_is_422_problem()
    {
        using var client = fixture.CreateApiClient();
        var key = Guid.NewGuid().ToString();
        using var first = await TaskApi.PostAsync(client, TaskApi.Body(prompt: "one"), key);

        using var second = await TaskApi.PostAsync(client, TaskApi.Body(prompt: "two"), key);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, second.StatusCode);
        await TaskApi.ProblemAsync(second);
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" WHERE "IdempotencyKey" = @p0""", key));
    }

    [Fact]
    public async Task The_same_idempotency_key_is_scoped_to_its_tenant()
    {
        using var tenantA = fixture.CreateApiClient(AppFixture.TenantAKey);
        using var tenantB = fixture.CreateApiClient(AppFixture.TenantBKey);
        var key = Guid.NewGuid().ToString();

        using var a = await TaskApi.PostAsync(tenantA, TaskApi.Body(), key);
        using var b = await TaskApi.PostAsync(tenantB, TaskApi.Body(), key);

        Assert.Equal(HttpStatusCode.Accepted, b.StatusCode);
        Assert.NotEqual(a.Headers.Location, b.Headers.Location);
    }

    [Fact]
    public async Task Concurrent_requests_with_one_idempotency_key_create_one_task()
    {
        using var client = fixture.CreateApiClient();
        var key = Guid.NewGuid().ToString();
        var body = TaskApi.Body(prompt: "race");
        var start = await fixture.ScalarAsync<DateTime>("SELECT now()");

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => TaskApi.PostAsync(client, body, key)));

        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.Accepted, HttpStatusCode.Conflict }));
        var ids = new HashSet<Guid>();
        foreach (var response in responses.Where(r => r.StatusCode == HttpStatusCode.Accepted))
        {
            ids.Add((await response.Content.ReadFromJsonAsync<TaskDto>(Json.Options))!.Id);
        }

        Assert.Single(ids);
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" WHERE "IdempotencyKey" = @p0""", key));

        // A losing insert is one batch with its outbox rows (no BEGIN/COMMIT around it): they went with it.
        Assert.Equal(0L, await fixture.ScalarAsync<long>(
            """SELECT count(*) FROM "OutboxMessages" o WHERE o."CreatedAt" >= @p0 AND o."TaskId" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "Tasks" t WHERE t."Id" = o."TaskId")""", start));
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    public static TheoryData<string, string> BadBodies() => new()
    {
        { "malformed JSON", """{"type": {"domain": "DocumentProcessing", """ },
        { "unknown domain", """{"type":{"domain":"Astrology","capability":"LLM_Generation","execution":"Async"},"payload":{"prompt":"p"}}""" },
        { "unknown capability", """{"type":{"domain":"DataAnalysis","capability":"llm_generation","execution":"Async"},"payload":{"prompt":"p"}}""" },
        { "numeric priority", """{"type":{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"},"priority":2,"payload":{"prompt":"p"}}""" },
        { "missing type", """{"payload":{"prompt":"p"}}""" },
        { "missing execution", """{"type":{"domain":"DataAnalysis","capability":"LLM_Generation"},"payload":{"prompt":"p"}}""" },
        { "missing payload", """{"type":{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"}}""" },
        { "missing prompt", """{"type":{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"},"payload":{"context":"c"}}""" },
        { "blank prompt", """{"type":{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"},"payload":{"prompt":"   "}}""" },
        { "maxAttempts 0", """{"type":{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"},"payload":{"prompt":"p"},"maxAttempts":0}""" },
        { "maxAttempts 11", """{"type":{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"},"payload":{"prompt":"p"},"maxAttempts":11}""" },
        { "scheduledAt not a date", """{"type":{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"},"payload":{"prompt":"p"},"scheduledAt":"tomorrow"}""" },
        { "scheduledAt in the past", """{"type":{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"},"payload":{"prompt":"p"},"scheduledAt":"2001-01-01T00:00:00Z"}""" },
        { "body is an array", """[1,2,3]""" },
        { "empty body", "" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task A_bad_create_request_is_400_problem_and_changes_nothing(string why, string json)
    {
        using var client = fixture.CreateApiClient();
        var before = await CountTasksAsync();

        using var response = await TaskApi.PostRawAsync(client, json);

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{why}: got {(int)response.StatusCode}");
        var problem = await TaskApi.ProblemAsync(response);
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.True(problem.TryGetProperty("traceId", out _), why);
        Assert.True(problem.TryGetProperty("errors", out _) || problem.TryGetProperty("detail", out _), why);
        Assert.Equal(before, await CountTasksAsync());
    }

    [Fact]
    public async Task An_idempotency_key_longer_than_255_characters_is_400_problem()
    {
        using var client = fixture.CreateApiClient();

        using var response = await TaskApi.PostAsync(client, TaskApi.Body(), new string('k', 256));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        await TaskApi.ProblemAsync(response);
    }

    [Fact]
    public async Task A_payload_over_the_limit_is_413_problem_and_changes_nothing()
    {
        using var client = fixture.CreateApiClient();
        var before = await CountTasksAsync();

        using var response = await TaskApi.PostAsync(client, TaskApi.Body(context: new string('x', 300 * 1024)));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        await TaskApi.ProblemAsync(response);
        Assert.Equal(before, await CountTasksAsync());
    }

    [Fact]
    public async Task A_body_far_over_the_limit_is_refused_before_it_is_read_whole()
    {
        using var client = fixture.CreateApiClient();

        using var response = await TaskApi.PostAsync(client, TaskApi.Body(context: new string('x', 2 * 1024 * 1024)));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        await TaskApi.ProblemAsync(response);
    }

    [Fact]
    public async Task A_non_json_content_type_is_415_problem()
    {
        using var client = fixture.CreateApiClient();

        using var response = await TaskApi.PostRawAsync(client, "prompt=hello", "text/plain");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        await TaskApi.ProblemAsync(response);
    }

    [Fact]
    public async Task The_list_is_newest_first_with_the_total_in_X_Total_Count()
    {
        using var client = fixture.CreateApiClient(AppFixture.TenantBKey);
        var created = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            created.Add((await TaskApi.CreateAsync(client, TaskApi.Body(prompt: $"list {i}", capability: "LLM_Reasoning"))).Id);
        }

        using var response = await client.GetAsync("/api/v1/tasks?capability=LLM_Reasoning&page=1&pageSize=2");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var total = int.Parse(response.Headers.GetValues("X-Total-Count").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(total >= 3);
        var page = (await response.Content.ReadFromJsonAsync<List<TaskDto>>(Json.Options))!;
        Assert.Equal(2, page.Count);
        Assert.Equal(created[2], page[0].Id);
        Assert.Equal(created[1], page[1].Id);
        Assert.True(page[0].CreatedAt >= page[1].CreatedAt);
    }

    [Fact]
    public async Task The_list_filters_by_status_and_by_type()
    {
        using var client = fixture.CreateApiClient(AppFixture.TenantBKey);
        var scheduled = await TaskApi.CreateAsync(client, new
        {
            type = new { domain = "MonitoringAlert", capability = "RuleEngine", execution = "EventDriven" },
            payload = new { data = new { cpu = 97 }, rules = new[] { new { name = "hot", expression = "data.cpu > 90" } } },
            scheduledAt = FarFuture,
        });

        var byStatus = await client.GetFromJsonAsync<List<TaskDto>>("/api/v1/tasks?status=Created&pageSize=100", Json.Options);
        var byDomainType = await client.GetFromJsonAsync<List<TaskDto>>("/api/v1/tasks?type=MonitoringAlert&pageSize=100", Json.Options);
        var byCapabilityType = await client.GetFromJsonAsync<List<TaskDto>>("/api/v1/tasks?type=RuleEngine&execution=EventDriven", Json.Options);

        Assert.Contains(byStatus!, t => t.Id == scheduled.Id);
        Assert.All(byStatus!, t => Assert.Equal(AiTaskStatus.Created, t.Status));
        Assert.Contains(byDomainType!, t => t.Id == scheduled.Id);
        Assert.All(byDomainType!, t => Assert.Equal(DomainType.MonitoringAlert, t.Type.Domain));
        Assert.Contains(byCapabilityType!, t => t.Id == scheduled.Id);
    }

    [Theory]
    [InlineData("page=0")]
    [InlineData("page=-1")]
    [InlineData("page=abc")]
    [InlineData("pageSize=0")]
    [InlineData("pageSize=101")]
    [InlineData("status=Done")]
    [InlineData("status=1")]
    [InlineData("type=Whatever")]
    [InlineData("domain=LLM_Generation")]
    [InlineData("capability=DocumentProcessing")]
    [InlineData("execution=Later")]
    [InlineData("page=21474838&pageSize=100")] // the offset would overflow an int
    [InlineData("page=2147483647&pageSize=100")]
    [InlineData("page=99999999999")]
    [InlineData("includePayload=yes")]
    public async Task A_bad_list_query_is_400_problem(string query)
    {
        using var client = fixture.CreateApiClient();

        using var response = await client.GetAsync($"/api/v1/tasks?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        Assert.True(problem.TryGetProperty("errors", out _));
    }

    [Fact]
    public async Task Cancel_of_a_task_that_has_not_run_cancels_it_at_once()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, new
        {
            type = new { domain = "ContentCreation", capability = "LLM_Generation", execution = "Async" },
            payload = new { prompt = "later" },
            scheduledAt = FarFuture,
        });
        Assert.Equal(AiTaskStatus.Created, task.Status);

        using var response = await client.PostAsync($"/api/v1/tasks/{task.Id}/cancel", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cancelled = await response.Content.ReadFromJsonAsync<TaskDto>(Json.Options);
        Assert.Equal(AiTaskStatus.Cancelled, cancelled!.Status);
        Assert.Equal(AiTaskStatus.Cancelled, (await TaskApi.GetAsync(client, task.Id)).Status);
    }

    [Fact]
    public async Task Cancel_of_a_finished_task_is_409_problem()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body());
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Succeeded);

        using var response = await client.PostAsync($"/api/v1/tasks/{task.Id}/cancel", null);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        await TaskApi.ProblemAsync(response);
        Assert.Equal(AiTaskStatus.Succeeded, (await TaskApi.GetAsync(client, task.Id)).Status);
    }

    [Fact]
    public async Task A_method_the_resource_does_not_allow_is_405_problem()
    {
        using var client = fixture.CreateApiClient();

        using var response = await client.DeleteAsync("/api/v1/tasks");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        await TaskApi.ProblemAsync(response);
    }

    [Fact]
    public async Task An_unknown_api_path_is_404_problem()
    {
        using var client = fixture.CreateApiClient();

        using var response = await client.GetAsync("/api/v1/nothing-here");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        await TaskApi.ProblemAsync(response);
    }

    private Task<long> CountTasksAsync() => fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" """);
}
