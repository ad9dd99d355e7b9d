using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

/// <summary>The lifecycle streams of the API: GET /api/v1/tasks/events and /api/v1/tasks/{id}/events.</summary>
[Collection(AppCollection.Name)]
public sealed class ServerSentEventsTests(AppFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_tenant_stream_shows_its_task_go_created_queued_started_succeeded_and_nothing_of_another_tenant()
    {
        using var clientA = fixture.CreateApiClient(AppFixture.TenantAKey);
        using var clientB = fixture.CreateApiClient(AppFixture.TenantBKey);
        await using var streamA = await SseClient.OpenAsync(clientA, "/api/v1/tasks/events");
        await using var streamB = await SseClient.OpenAsync(clientB, "/api/v1/tasks/events");

        var taskA = await TaskApi.CreateAsync(clientA, TaskApi.Body(prompt: "stream me"));
        var taskB = await TaskApi.CreateAsync(clientB, TaskApi.Body(prompt: "tenant b's own"));

        var seenA = await streamA.CollectUntilAsync(e => e.Any(x => x.Type == "task.succeeded" && TaskIdOf(x) == taskA.Id), Deadline, "tenant A's task to succeed");
        var ofA = seenA.Where(e => TaskIdOf(e) == taskA.Id).ToList();
        Assert.Equal(["task.created", "task.queued", "task.reserved", "task.started", "task.succeeded"], ofA.Select(e => e.Type));
        Assert.Equal([1L, 2, 3, 4, 5], ofA.Select(e => Body(e).GetProperty("sequence").GetInt64()));
        Assert.All(ofA, e => Assert.True(Guid.TryParse(e.Id, out _), "every event has a resumable id"));
        Assert.Equal(ofA.Count, ofA.Select(e => e.Id).Distinct().Count());
        Assert.Equal("Succeeded", Body(ofA[^1]).GetProperty("task").GetProperty("status").GetString());

        var seenB = await streamB.CollectUntilAsync(e => e.Any(x => x.Type == "task.succeeded" && TaskIdOf(x) == taskB.Id), Deadline, "tenant B's task to succeed");
        Assert.DoesNotContain(seenB, e => TaskIdOf(e) == taskA.Id);
        Assert.DoesNotContain(streamA.Received, e => e.Type is not null && TaskIdOf(e) == taskB.Id);
    }

    [Fact]
    public async Task A_task_stream_starts_with_its_history_and_a_reconnect_with_Last_Event_ID_replays_what_was_missed()
    {
        using var client = fixture.CreateApiClient();
        // Long enough that its succeeded event cannot arrive before the first stream's assertions on a slow machine.
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { latencyMs = 5000 }));
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Running);

        // Connected while it runs: the history so far, then live.
        string lastSeen;
        await using (var first = await SseClient.OpenAsync(client, $"/api/v1/tasks/{task.Id}/events"))
        {
            var started = await first.NextAsync(e => e.Type == "task.started", Deadline, "the started event from the history");
            Assert.Equal(["task.created", "task.queued", "task.reserved", "task.started"], first.Received.Where(e => e.Type is not null).Select(e => e.Type));
            lastSeen = started.Id!;
        }

        // Disconnected while it finishes.
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Succeeded);

        await using var second = await SseClient.OpenAsync(client, $"/api/v1/tasks/{task.Id}/events", lastEventId: lastSeen);
        var succeeded = await second.NextAsync(e => e.Type == "task.succeeded", Deadline, "the missed succeeded event");
        Assert.Equal(5, Body(succeeded).GetProperty("sequence").GetInt64());
        Assert.DoesNotContain(second.Received, e => e.Id == lastSeen);
        Assert.DoesNotContain(second.Received, e => e.Type == "resync");
    }

    [Fact]
    public async Task The_tenant_stream_resumes_from_Last_Event_ID_too()
    {
        using var client = fixture.CreateApiClient();
        string lastSeen;
        await using (var first = await SseClient.OpenAsync(client, "/api/v1/tasks/events"))
        {
            var marker = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "marker"));
            lastSeen = (await first.NextAsync(e => e.Type == "task.created" && TaskIdOf(e) == marker.Id, Deadline, "the marker's created event")).Id!;
        }

        var missed = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "created while disconnected"));
        await TaskApi.WaitForStatusAsync(client, missed.Id, AiTaskStatus.Succeeded);

        await using var second = await SseClient.OpenAsync(client, "/api/v1/tasks/events", lastEventId: lastSeen);
        var replayed = await second.CollectUntilAsync(e => e.Any(x => x.Type == "task.succeeded" && TaskIdOf(x) == missed.Id), Deadline, "the missed task's events");
        Assert.Equal(
            ["task.created", "task.queued", "task.reserved", "task.started", "task.succeeded"],
            replayed.Where(e => TaskIdOf(e) == missed.Id).OrderBy(e => Body(e).GetProperty("sequence").GetInt64()).Select(e => e.Type).Distinct());
    }

    [Fact]
    public async Task An_event_keeps_its_id_live_and_replayed_and_a_resume_inside_one_saves_events_skips_only_what_the_client_has()
    {
        using var client = fixture.CreateApiClient();
        Dictionary<string, string> live;
        TaskDto task;
        await using (var tenant = await SseClient.OpenAsync(client, "/api/v1/tasks/events"))
        {
            task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "ids live and replayed"));
            var received = await tenant.CollectUntilAsync(e => e.Any(x => x.Type == "task.succeeded" && TaskIdOf(x) == task.Id), Deadline, "the task's events live");
            live = received.Where(e => TaskIdOf(e) == task.Id).DistinctBy(e => e.Id).ToDictionary(e => e.Type!, e => e.Id!);
        }

        // The create's events (created, queued) and the claim's (reserved, started) are each stored in one row.
        await using (var history = await SseClient.OpenAsync(client, $"/api/v1/tasks/{task.Id}/events"))
        {
            var replayed = await history.CollectUntilAsync(e => e.Any(x => x.Type == "task.succeeded"), Deadline, "the task's history");
            Assert.Equal(live, replayed.Where(e => TaskIdOf(e) == task.Id).DistinctBy(e => e.Id).ToDictionary(e => e.Type!, e => e.Id!));
        }

        // A resume after an event skips it and the events before it in its save's row; what comes after it is replayed.
        // (Earlier rows may come again within the replay overlap: at least once, ordered and deduped by sequence.)
        foreach (var (resumeAfter, skipped, expected) in new[]
                 {
                     ("task.created", new[] { "task.created" }, new[] { "task.queued", "task.reserved", "task.started", "task.succeeded" }),
                     ("task.queued", ["task.created", "task.queued"], ["task.reserved", "task.started", "task.succeeded"]),
                     ("task.started", ["task.reserved", "task.started"], ["task.succeeded"]),
                 })
        {
            await using var resumed = await SseClient.OpenAsync(client, $"/api/v1/tasks/{task.Id}/events", lastEventId: live[resumeAfter]);
            var after = await resumed.CollectUntilAsync(e => e.Any(x => x.Type == "task.succeeded"), Deadline, $"the events after {resumeAfter}");
            var types = after.Where(e => e.Type is not null).Select(e => e.Type!).ToList();
            Assert.DoesNotContain("resync", types);
            Assert.All(expected, type => Assert.Contains(type, types));
            Assert.All(skipped, type => Assert.DoesNotContain(type, types));
        }
    }

    [Fact]
    public async Task A_failed_event_tells_a_retry_pending_from_a_final_failure_by_retryAt()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { failAttempts = 1, latencyMs = 0 }, maxAttempts: 2));
        await using var stream = await SseClient.OpenAsync(client, $"/api/v1/tasks/{task.Id}/events");

        var failed = Body(await stream.NextAsync(e => e.Type == "task.failed", Deadline, "the failed event"));
        Assert.Equal("Failed", failed.GetProperty("task").GetProperty("status").GetString());
        var retryAt = failed.GetProperty("task").GetProperty("retryAt").GetDateTimeOffset();
        Assert.True(retryAt > failed.GetProperty("at").GetDateTimeOffset(), "the retry is after the failure");

        var succeeded = Body(await stream.NextAsync(e => e.Type == "task.succeeded", Deadline, "the retry to succeed"));
        Assert.Equal(JsonValueKind.Null, succeeded.GetProperty("task").GetProperty("retryAt").ValueKind);
    }

    [Fact]
    public async Task An_unknown_Last_Event_ID_asks_the_client_to_resync()
    {
        using var client = fixture.CreateApiClient();
        await using var stream = await SseClient.OpenAsync(client, "/api/v1/tasks/events", lastEventId: Guid.CreateVersion7().ToString());
        await stream.NextAsync(e => e.Type == "resync", Deadline, "a resync event");
    }

    [Fact]
    public async Task An_idle_stream_gets_heartbeat_comments()
    {
        using var client = fixture.CreateApiClient(AppFixture.TenantBKey);
        await using var stream = await SseClient.OpenAsync(client, $"/api/v1/tasks/events");

        // Tests run with a 1 s heartbeat (15 s by default).
        await stream.NextAsync(e => e.Comment == "heartbeat", TimeSpan.FromSeconds(10), "a heartbeat comment");
    }

    [Fact]
    public async Task Streams_need_the_key_in_a_header_and_never_show_another_tenants_task()
    {
        using var clientA = fixture.CreateApiClient(AppFixture.TenantAKey);
        using var clientB = fixture.CreateApiClient(AppFixture.TenantBKey);
        using var anonymous = fixture.CreateApiClient(apiKey: null);
        var taskA = await TaskApi.CreateAsync(clientA, TaskApi.Body());

        Assert.Equal(HttpStatusCode.NotFound, (await clientB.GetAsync($"/api/v1/tasks/{taskA.Id}/events", HttpCompletionOption.ResponseHeadersRead)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await clientA.GetAsync("/api/v1/tasks/not-a-guid/events", HttpCompletionOption.ResponseHeadersRead)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/tasks/events", HttpCompletionOption.ResponseHeadersRead)).StatusCode);
        var keyInUrl = await anonymous.GetAsync($"/api/v1/tasks/events?apiKey={AppFixture.TenantAKey}&api_key={AppFixture.TenantAKey}&X-Api-Key={AppFixture.TenantAKey}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.Unauthorized, keyInUrl.StatusCode);
        Assert.Equal("application/problem+json", keyInUrl.Content.Headers.ContentType?.MediaType);

        // Tenant B guessing A's event ids cannot read them either: an id of another tenant is unknown to B.
        await using var streamA = await SseClient.OpenAsync(clientA, $"/api/v1/tasks/{taskA.Id}/events");
        var created = await streamA.NextAsync(e => e.Type == "task.created", Deadline, "A's created event");
        await using var streamB = await SseClient.OpenAsync(clientB, "/api/v1/tasks/events", lastEventId: created.Id);
        await streamB.NextAsync(e => e.Type == "resync", Deadline, "a resync for an id B does not own");
        Assert.DoesNotContain(streamB.Received, e => e.Type is not null && e.Type != "resync" && TaskIdOf(e) == taskA.Id);
    }

    /// <summary>
    /// With no stream open the broker does not copy task events to the API; the first stream turns the copies on, and
    /// an event published before they are on is read from the outbox (the task here is posted at once, without waiting
    /// for the binding), so the stream misses nothing.
    /// </summary>
    [Fact]
    public async Task With_no_stream_open_the_API_gets_no_task_events_and_the_first_stream_misses_none()
    {
        await Eventually.UntilAsync(ApiFeedBindingsAsync, count => count == 0, Deadline, "the API's feed to be off with no stream open");

        using var client = fixture.CreateApiClient();
        await using (var stream = await SseClient.OpenAsync(client, "/api/v1/tasks/events"))
        {
            var task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "the first stream"));
            var seen = await stream.CollectUntilAsync(e => e.Any(x => x.Type == "task.succeeded" && TaskIdOf(x) == task.Id), Deadline, "the task to succeed");
            Assert.Equal(["task.created", "task.queued", "task.reserved", "task.started", "task.succeeded"], seen.Where(e => TaskIdOf(e) == task.Id).Select(e => e.Type));
            Assert.Equal(1, await ApiFeedBindingsAsync());
            Assert.Equal(1, await ApiListenersAsync());
        }

        await Eventually.UntilAsync(ApiFeedBindingsAsync, count => count == 0, Deadline, "the API's feed to go off a linger after the last stream closed");
        await Eventually.UntilAsync(ApiListenersAsync, count => count == 0, Deadline, "the API to stop listening to task events with its feed off");
    }

    /// <summary>
    /// Task events are published only while a listener is registered. An API instance whose registration lapsed (a
    /// database outage longer than its lease; here its row is expired by hand) registers again at its next renewal and
    /// its streams read what was stored unpublished meanwhile from the outbox.
    /// </summary>
    [Fact]
    public async Task A_stream_misses_nothing_when_its_instance_stopped_listening_for_a_while()
    {
        using var client = await fixture.CreateTenantClientAsync("lapse");
        await using var stream = await SseClient.OpenAsync(client, "/api/v1/tasks/events");

        // The feed on and the stream live: a task's events arrive.
        var first = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "before"));
        await stream.CollectUntilAsync(e => e.Any(x => x.Type == "task.succeeded" && TaskIdOf(x) == first.Id), Deadline, "the first task to succeed");
        Assert.Equal(1, await ApiListenersAsync());

        // Until a task's first event is stored unpublished: a renewal may register again between the expiry and the POST.
        TaskDto? task = null;
        for (var tries = 0; task is null; tries++)
        {
            Assert.True(tries < 5, "a task event stored while the API's registration had lapsed");
            await fixture.ExecuteAsync("""UPDATE "EventListeners" SET "Until" = now() - interval '1 second' WHERE "Name" LIKE 'task-events.api.%'""");
            var created = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "while nobody listened"));
            var unpublished = await fixture.ScalarAsync<bool>(
                """SELECT "SentAt" = "CreatedAt" AND "PublishAttempts" = 0 FROM "OutboxMessages" WHERE "TaskId" = @p0 AND "EventSequence" = 1""", created.Id);
            task = unpublished ? created : null;
        }

        var seen = await stream.CollectUntilAsync(e => e.Any(x => x.Type == "task.succeeded" && TaskIdOf(x) == task.Id), Deadline, "the task to succeed");
        Assert.Equal(["task.created", "task.queued", "task.reserved", "task.started", "task.succeeded"], seen.Where(e => TaskIdOf(e) == task.Id).Select(e => e.Type));
        await Eventually.UntilAsync(ApiListenersAsync, count => count == 1, Deadline, "the API to listen again");
    }

    /// <summary>Live registrations of API instances as listeners of task events.</summary>
    private Task<long> ApiListenersAsync() =>
        fixture.ScalarAsync<long>("""SELECT count(*) FROM "EventListeners" WHERE "Name" LIKE 'task-events.api.%' AND "Until" > now()""");

    /// <summary>Bindings from <c>task-events</c> to the API instances' live-stream queues (the management API).</summary>
    private async Task<int> ApiFeedBindingsAsync()
    {
        using var management = AppFixture.CreateManagementClient();
        var bindings = await management.GetFromJsonAsync<JsonElement>($"api/exchanges/{Uri.EscapeDataString(fixture.TestVirtualHost)}/{Uri.EscapeDataString(AssistenteIa.Application.Messaging.Queues.TaskEvents)}/bindings/source");
        return bindings.EnumerateArray().Count(b => b.GetProperty("destination").GetString()!.StartsWith($"{AssistenteIa.Application.Messaging.Queues.TaskEvents}.api.", StringComparison.Ordinal));
    }

    internal static JsonElement Body(SseEvent sseEvent) => JsonSerializer.Deserialize<JsonElement>(sseEvent.Data);

    internal static Guid? TaskIdOf(SseEvent sseEvent) =>
        sseEvent.Type is { } type && type.StartsWith("task.", StringComparison.Ordinal) ? Body(sseEvent).GetProperty("task").GetProperty("id").GetGuid() : null;
}
