using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

/// <summary>Webhooks end to end: registered through the API, delivered by ServiceC to a receiver in this process.</summary>
[Collection(AppCollection.Name)]
public sealed class WebhookTests(AppFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Deliveries_are_signed_per_Standard_Webhooks_and_verify_with_an_independent_HMAC()
    {
        using var client = await fixture.CreateTenantClientAsync("hooks");
        await using var receiver = new WebhookReceiver();
        var endpoint = await RegisterAsync(client, receiver.Url, "task.created", "task.succeeded");
        try
        {
            var secret = endpoint.GetProperty("secret").GetString()!;
            Assert.StartsWith("whsec_", secret);
            var task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "tell my webhook"));

            var created = await NextForAsync(receiver, task.Id, "task.created");
            var succeeded = await NextForAsync(receiver, task.Id, "task.succeeded");
            foreach (var delivery in new[] { created, succeeded })
            {
                // Standard Webhooks: HMAC-SHA256 over "id.timestamp.body" with the base64 key after "whsec_".
                var key = Convert.FromBase64String(secret["whsec_".Length..]);
                var expected = Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{delivery.Id}.{delivery.Timestamp}.{delivery.Body}")));
                Assert.Contains($"v1,{expected}", delivery.Signature.Split(' '));
                Assert.InRange(long.Parse(delivery.Timestamp, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
                var body = JsonSerializer.Deserialize<JsonElement>(delivery.Body);
                Assert.True(body.TryGetProperty("timestamp", out _));
                Assert.Equal(task.Id, body.GetProperty("data").GetProperty("task").GetProperty("id").GetGuid());
            }

            Assert.Equal("Succeeded", JsonSerializer.Deserialize<JsonElement>(succeeded.Body).GetProperty("data").GetProperty("status").GetString());
            Assert.NotEqual(created.Id, succeeded.Id);

            // A tampered body does not verify.
            var tampered = Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(secret[6..]), Encoding.UTF8.GetBytes($"{succeeded.Id}.{succeeded.Timestamp}.{succeeded.Body} ")));
            Assert.DoesNotContain($"v1,{tampered}", succeeded.Signature.Split(' '));
        }
        finally
        {
            await DeleteAsync(client, endpoint);
        }
    }

    [Fact]
    public async Task A_receiver_failing_twice_gets_three_attempts_with_growing_gaps_and_one_success_is_recorded()
    {
        // A tenant of its own: a trailing event of an earlier test would take one of the planned 500s.
        using var client = await fixture.CreateTenantClientAsync("hooks");
        await using var receiver = new WebhookReceiver(500, 500);
        var endpoint = await RegisterAsync(client, receiver.Url, "task.succeeded");
        try
        {
            var task = await TaskApi.CreateAsync(client, TaskApi.Body());
            var attempts = new List<ReceivedWebhook>();
            for (var i = 0; i < 3; i++)
            {
                attempts.Add(await NextForAsync(receiver, task.Id, "task.succeeded"));
            }

            Assert.Single(attempts.Select(a => a.Id).Distinct());
            var firstGap = attempts[1].At - attempts[0].At;
            var secondGap = attempts[2].At - attempts[1].At;
            Assert.True(secondGap > firstGap, $"the gaps grow: {firstGap} then {secondGap}");
            Assert.True(firstGap >= TimeSpan.FromSeconds(0.7), $"the first retry waits for the backoff: {firstGap}");

            var deliveries = await Eventually.UntilAsync(
                () => DeliveriesAsync(client, endpoint),
                d => d.Any(x => x.GetProperty("status").GetString() == "Succeeded"),
                Deadline,
                "the delivery to be recorded as succeeded");
            var delivery = Assert.Single(deliveries);
            Assert.Equal(3, delivery.GetProperty("attempts").GetInt32());
            Assert.Equal(200, delivery.GetProperty("lastStatusCode").GetInt32());
            Assert.Equal(JsonValueKind.Null, delivery.GetProperty("nextAttemptAt").ValueKind);
            Assert.Equal(attempts[0].Id, delivery.GetProperty("eventId").GetGuid().ToString());

            var afterwards = await GetAsync(client, endpoint);
            Assert.True(afterwards.GetProperty("enabled").GetBoolean());
            Assert.Equal(0, afterwards.GetProperty("consecutiveFailures").GetInt32());

            // Redelivered on request: the same event, the same webhook-id.
            var redeliver = await client.PostAsync($"/api/v1/webhooks/{IdOf(endpoint)}/deliveries/{delivery.GetProperty("id").GetGuid()}/redeliver", null);
            Assert.Equal(HttpStatusCode.Accepted, redeliver.StatusCode);
            Assert.Equal(attempts[0].Id, (await receiver.NextAsync(Deadline, "the redelivery")).Id);
        }
        finally
        {
            await DeleteAsync(client, endpoint);
        }
    }

    [Fact]
    public async Task A_delivery_stored_for_an_endpoint_disabled_since_is_not_sent_and_is_failed_with_the_reason()
    {
        using var client = await fixture.CreateTenantClientAsync("hooks");
        await using var receiver = new WebhookReceiver();
        var endpoint = await RegisterAsync(client, receiver.Url, "task.succeeded");
        try
        {
            // The endpoint is disabled after the fan-out stored a delivery for it: the row is written as the fan-out does.
            await fixture.ExecuteAsync($$"""
                UPDATE "WebhookEndpoints" SET "Enabled" = false, "DisabledReason" = 'by the test' WHERE "Id" = '{{IdOf(endpoint)}}';
                INSERT INTO "WebhookDeliveries" ("Id", "EndpointId", "TenantId", "EventId", "EventType", "PayloadJson", "Status", "Attempts", "NextAttemptAt", "CreatedAt")
                SELECT gen_random_uuid(), "Id", "TenantId", gen_random_uuid(), 'task.succeeded', '{}', 'Pending', 0, now(), now()
                FROM "WebhookEndpoints" WHERE "Id" = '{{IdOf(endpoint)}}';
                """);

            var deliveries = await Eventually.UntilAsync(
                () => DeliveriesAsync(client, endpoint), d => d.Any(x => x.GetProperty("status").GetString() == "Failed"), Deadline, "the delivery to be failed");
            var delivery = Assert.Single(deliveries);
            Assert.Equal("The endpoint is disabled.", delivery.GetProperty("lastError").GetString());
            Assert.Equal(0, delivery.GetProperty("attempts").GetInt32());
            Assert.Empty(receiver.All);
        }
        finally
        {
            await DeleteAsync(client, endpoint);
        }
    }

    [Fact]
    public async Task An_endpoint_registered_while_its_tenant_has_events_flowing_gets_the_next_tasks_events()
    {
        // ServiceC caches a tenant's endpoint list (none, here) for a second; the registration answers after it expired.
        using var client = await fixture.CreateTenantClientAsync("hooks");
        var before = await TaskApi.CreateAsync(client, TaskApi.Body());
        await TaskApi.WaitForStatusAsync(client, before.Id, AiTaskStatus.Succeeded);

        await using var receiver = new WebhookReceiver();
        var endpoint = await RegisterAsync(client, receiver.Url, "task.created");
        try
        {
            var task = await TaskApi.CreateAsync(client, TaskApi.Body());
            await NextForAsync(receiver, task.Id, "task.created");
        }
        finally
        {
            await DeleteAsync(client, endpoint);
        }
    }

    [Fact]
    public async Task With_no_endpoint_enabled_task_events_are_not_copied_for_ServiceC_and_a_new_endpoint_gets_the_next_tasks_events()
    {
        // What earlier tests left enabled is disabled: ServiceC then unbinds its queue from the task events.
        await fixture.ExecuteAsync("""UPDATE "WebhookEndpoints" SET "Enabled" = false""");
        await Eventually.UntilAsync(() => WebhookQueueBindingsAsync(), keys => keys.Count == 0, Deadline, "ServiceC to stop the copies of task events");

        using var client = await fixture.CreateTenantClientAsync("hooks");
        await using var receiver = new WebhookReceiver();
        var endpoint = await RegisterAsync(client, receiver.Url, "task.created");
        try
        {
            // Copied: the one type the endpoint takes, not every event.
            Assert.Equal(["task.created"], await WebhookQueueBindingsAsync());
            var task = await TaskApi.CreateAsync(client, TaskApi.Body());
            await NextForAsync(receiver, task.Id, "task.created");
        }
        finally
        {
            await DeleteAsync(client, endpoint);
        }
    }

    /// <summary>The routing keys of the bindings from <c>task-events</c> to ServiceC's webhook queue (the management API).</summary>
    private async Task<List<string>> WebhookQueueBindingsAsync()
    {
        using var management = AppFixture.CreateManagementClient();
        var bindings = await management.GetFromJsonAsync<JsonElement>(
            $"api/queues/{Uri.EscapeDataString(fixture.TestVirtualHost)}/{Uri.EscapeDataString(AssistenteIa.Application.Messaging.Queues.WebhookTaskEvents)}/bindings");
        return [.. bindings.EnumerateArray()
            .Where(b => b.GetProperty("source").GetString() == AssistenteIa.Application.Messaging.Queues.TaskEvents)
            .Select(b => b.GetProperty("routing_key").GetString()!)
            .Order(StringComparer.Ordinal)];
    }

    [Fact]
    public async Task Another_tenants_endpoint_never_sees_the_event()
    {
        using var clientA = fixture.CreateApiClient(AppFixture.TenantAKey);
        using var clientB = fixture.CreateApiClient(AppFixture.TenantBKey);
        await using var receiverA = new WebhookReceiver();
        await using var receiverB = new WebhookReceiver();
        var endpointA = await RegisterAsync(clientA, receiverA.Url, "task.created", "task.succeeded");
        var endpointB = await RegisterAsync(clientB, receiverB.Url, "task.created", "task.succeeded");
        try
        {
            var task = await TaskApi.CreateAsync(clientA, TaskApi.Body());
            await NextForAsync(receiverA, task.Id, "task.succeeded");
            var taskB = await TaskApi.CreateAsync(clientB, TaskApi.Body());
            await NextForAsync(receiverB, taskB.Id, "task.succeeded");

            Assert.DoesNotContain(receiverB.All, r => r.Body.Contains(task.Id.ToString(), StringComparison.Ordinal));
            Assert.Equal(HttpStatusCode.NotFound, (await clientB.GetAsync($"/api/v1/webhooks/{IdOf(endpointA)}")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await clientB.GetAsync($"/api/v1/webhooks/{IdOf(endpointA)}/deliveries")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await clientB.DeleteAsync($"/api/v1/webhooks/{IdOf(endpointA)}")).StatusCode);
            Assert.DoesNotContain((await clientB.GetFromJsonAsync<List<JsonElement>>("/api/v1/webhooks"))!, e => IdOf(e) == IdOf(endpointA));
        }
        finally
        {
            await DeleteAsync(clientA, endpointA);
            await DeleteAsync(clientB, endpointB);
        }
    }

    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("ftp://example.com/hook")]
    [InlineData("http://10.0.0.5/hook")]
    [InlineData("http://172.16.3.4/hook")]
    [InlineData("http://192.168.1.1/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://[::ffff:10.0.0.1]/hook")]
    [InlineData("http://[fd00::1]/hook")]
    [InlineData("https://8.8.8.8:8443/hook")]
    [InlineData("http://8.8.8.8:22/hook")]
    [InlineData("http://user:pass@127.0.0.1/hook")]
    [InlineData("/relative/hook")]
    [InlineData("")]
    public async Task A_URL_that_is_not_public_http_is_refused_with_a_problem_and_nothing_is_stored(string url)
    {
        using var client = fixture.CreateApiClient();
        var before = await fixture.ScalarAsync<long>("""SELECT count(*) FROM "WebhookEndpoints" """);
        var response = await client.PostAsJsonAsync("/api/v1/webhooks", new { url, events = new[] { "task.succeeded" } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True((await TaskApi.ProblemAsync(response)).GetProperty("errors").TryGetProperty("url", out _));
        Assert.Equal(before, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "WebhookEndpoints" """));
    }

    [Theory]
    [InlineData("""{"url":"http://127.0.0.1:9/h","events":[]}""", "events")]
    [InlineData("""{"url":"http://127.0.0.1:9/h","events":["task.exploded"]}""", "events")]
    [InlineData("""{"url":"http://127.0.0.1:9/h"}""", "events")]
    [InlineData("""{"url":"http://127.0.0.1:9/h","events":[null]}""", "events")]
    [InlineData("""{"url":"http://127.0.0.1:9/h","events":["task.created",null,"x\u0000"]}""", "events")]
    [InlineData("""{"url":"http://127.0.0.1:9/h","events":["task.created"],"description":"a\u0000b"}""", "description")]
    public async Task Bad_event_lists_are_refused(string json, string field)
    {
        using var client = fixture.CreateApiClient();
        var response = await client.PostAsync("/api/v1/webhooks", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await TaskApi.ProblemAsync(response)).GetProperty("errors").TryGetProperty(field, out _));
    }

    [Fact]
    public async Task A_URL_that_only_grows_too_long_when_escaped_is_refused_not_a_server_error()
    {
        using var client = fixture.CreateApiClient();
        var url = $"http://127.0.0.1:9/{new string('é', 1900)}";
        var response = await client.PostAsJsonAsync("/api/v1/webhooks", new { url, events = new[] { "task.succeeded" } });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await TaskApi.ProblemAsync(response)).GetProperty("errors").TryGetProperty("url", out _));

        var longHost = $"http://{string.Join('.', Enumerable.Repeat(new string('a', 63), 5))}/hook";
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsJsonAsync("/api/v1/webhooks", new { url = longHost, events = new[] { "task.succeeded" } })).StatusCode);
    }

    [Fact]
    public async Task An_endpoint_that_keeps_failing_is_disabled_and_the_list_shows_it_until_enabled_again()
    {
        using var client = await fixture.CreateTenantClientAsync("hooks");
        await using var receiver = new WebhookReceiver(Enumerable.Repeat(503, 100).ToArray());
        var endpoint = await RegisterAsync(client, receiver.Url, "task.created", "task.queued", "task.succeeded");
        try
        {
            // Tests disable after 6 failed attempts in a row; one task gives three events of up to 4 attempts each.
            await TaskApi.CreateAsync(client, TaskApi.Body());
            var disabled = await Eventually.UntilAsync(
                () => GetAsync(client, endpoint), e => !e.GetProperty("enabled").GetBoolean(), Deadline, "the endpoint to be disabled");
            Assert.Contains("failed delivery attempts in a row", disabled.GetProperty("disabledReason").GetString());
            Assert.Contains((await client.GetFromJsonAsync<List<JsonElement>>("/api/v1/webhooks"))!, e => IdOf(e) == IdOf(endpoint) && !e.GetProperty("enabled").GetBoolean());

            var enabled = await client.PostAsync($"/api/v1/webhooks/{IdOf(endpoint)}/enable", null);
            Assert.Equal(HttpStatusCode.OK, enabled.StatusCode);

            // The answer is the endpoint as enabled; it comes after the fan-out settles, by when the receiver (still
            // answering 503) may have failed a pending retry again.
            var after = await enabled.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(after.GetProperty("enabled").GetBoolean());
            Assert.Equal(0, after.GetProperty("consecutiveFailures").GetInt32());
            Assert.False(after.TryGetProperty("disabledReason", out var reason) && reason.ValueKind != JsonValueKind.Null);
        }
        finally
        {
            await DeleteAsync(client, endpoint);
        }
    }

    [Fact]
    public async Task Enabling_an_endpoint_that_is_enabled_changes_nothing_and_its_failures_keep_counting()
    {
        using var client = await fixture.CreateTenantClientAsync("hooks");
        await using var receiver = new WebhookReceiver();
        var endpoint = await RegisterAsync(client, receiver.Url, "task.created");
        try
        {
            await fixture.ExecuteAsync($"""UPDATE "WebhookEndpoints" SET "ConsecutiveFailures" = 3 WHERE "Id" = '{IdOf(endpoint)}'""");

            var response = await client.PostAsync($"/api/v1/webhooks/{IdOf(endpoint)}/enable", null);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var answered = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(answered.GetProperty("enabled").GetBoolean());
            Assert.Equal(3, answered.GetProperty("consecutiveFailures").GetInt32());
            Assert.Equal(3, (await GetAsync(client, endpoint)).GetProperty("consecutiveFailures").GetInt32());
        }
        finally
        {
            await DeleteAsync(client, endpoint);
        }
    }

    [Fact]
    public async Task Registrations_racing_at_the_endpoint_limit_store_no_more_than_the_limit()
    {
        using var client = await fixture.CreateTenantClientAsync("hooks");
        await using var receiver = new WebhookReceiver();
        var limit = new WebhookOptions().MaxEndpointsPerTenant;
        var registered = await RegisterManyAsync(client, Enumerable.Range(0, limit - 1).Select(i => $"{receiver.Url}/{i}"), "task.created");
        try
        {
            // One place left, as many requests for it at once as the tenant may run: each counted one less than the limit.
            var racing = await Task.WhenAll(Enumerable.Range(0, AppFixture.TenantShare).Select(i =>
                client.PostAsJsonAsync("/api/v1/webhooks", new { url = $"{receiver.Url}/racing/{i}", events = new[] { "task.created" } })));
            foreach (var response in racing.Where(r => r.StatusCode == HttpStatusCode.Created))
            {
                registered.Add(await response.Content.ReadFromJsonAsync<JsonElement>());
            }

            Assert.Single(racing, r => r.StatusCode == HttpStatusCode.Created);
            foreach (var refused in racing.Where(r => r.StatusCode != HttpStatusCode.Created))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
                Assert.Equal("Quota exceeded", (await TaskApi.ProblemAsync(refused)).GetProperty("title").GetString());
            }

            Assert.Equal(limit, (await client.GetFromJsonAsync<List<JsonElement>>("/api/v1/webhooks"))!.Count);
        }
        finally
        {
            // Enabled endpoints keep task events copied for ServiceC, which other tests check is off without one.
            foreach (var endpoint in registered)
            {
                await DeleteAsync(client, endpoint);
            }
        }
    }

    [Fact]
    public async Task One_tenants_slow_endpoints_hold_at_most_its_share_of_the_sender_and_another_tenants_event_goes_out_beside_its_backlog()
    {
        using var flooding = await fixture.CreateTenantClientAsync("hooks");
        using var other = await fixture.CreateTenantClientAsync("hooks");
        await using var slow = WebhookReceiver.Slow(TimeSpan.FromMilliseconds(500));
        await using var fast = new WebhookReceiver();

        // 16 endpoints, each taking 2 deliveries at once, would hold all 32 of the sender's slots.
        var endpoints = await RegisterManyAsync(flooding, Enumerable.Range(0, 16).Select(i => $"{slow.Url}/{i}"), "task.created", "task.succeeded");
        JsonElement? others = null;
        try
        {
            // 4 tasks: 128 deliveries of half a second each, a backlog of 8 s at the tenant's share (8), 2 s at the sender's 32.
            var backlog = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => TaskApi.CreateAsync(flooding, TaskApi.Body(prompt: "flood my webhooks"))));
            foreach (var flooded in backlog)
            {
                await TaskApi.WaitForStatusAsync(flooding, flooded.Id, AiTaskStatus.Succeeded);
            }

            await slow.NextAsync(Deadline, "the first delivery of the backlog");
            others = await RegisterAsync(other, fast.Url, "task.created");
            var task = await TaskApi.CreateAsync(other, TaskApi.Body(prompt: "mine is due now too"));

            await NextForAsync(fast, task.Id, "task.created");
            Assert.True(slow.All.Count < 128, $"the other tenant's event went out only after the whole backlog ({slow.All.Count} requests)");
            Assert.InRange(slow.MostAnsweringAtOnce, 2, new WebhookOptions().PerTenantConcurrency);
        }
        finally
        {
            // The backlog's deliveries go with their endpoints, not on through the next tests.
            foreach (var endpoint in endpoints)
            {
                await DeleteAsync(flooding, endpoint);
            }

            if (others is { } registered)
            {
                await DeleteAsync(other, registered);
            }
        }
    }

    [Fact]
    public async Task A_delivery_cut_off_by_a_killed_ServiceC_is_made_after_its_restart()
    {
        // A tenant of its own, and every read filtered by the task: once held, the receiver must see only this event again.
        using var client = await fixture.CreateTenantClientAsync("hooks");

        // The first request is held open; ServiceC is killed while it waits for the answer.
        await using var receiver = new WebhookReceiver(0);
        var endpoint = await RegisterAsync(client, receiver.Url, "task.succeeded");
        try
        {
            var task = await TaskApi.CreateAsync(client, TaskApi.Body());
            var first = await NextForAsync(receiver, task.Id, "task.succeeded");
            await Processes.KillServiceAsync(await fixture.ProcessIdAsync("servicec"));
            await fixture.RestartAsync("servicec", TimeSpan.FromMinutes(2));

            var again = await NextForAsync(receiver, task.Id, "task.succeeded", TimeSpan.FromSeconds(90));
            Assert.Equal(first.Id, again.Id);
            var deliveries = await Eventually.UntilAsync(
                () => DeliveriesAsync(client, endpoint),
                d => d.Any(x => x.GetProperty("eventId").GetString() == first.Id && x.GetProperty("status").GetString() == "Succeeded"),
                Deadline,
                "the delivery to succeed");
            Assert.Single(deliveries, x => x.GetProperty("eventId").GetString() == first.Id);
        }
        finally
        {
            receiver.Release();
            await DeleteAsync(client, endpoint);
        }
    }

    private static Task<ReceivedWebhook> NextForAsync(WebhookReceiver receiver, Guid taskId, string type, TimeSpan? deadline = null) =>
        receiver.NextAsync(
            request =>
            {
                var body = JsonSerializer.Deserialize<JsonElement>(request.Body);
                return body.GetProperty("type").GetString() == type && body.GetProperty("data").GetProperty("task").GetProperty("id").GetGuid() == taskId;
            },
            deadline ?? Deadline,
            $"{type} of {taskId}");

    private static async Task<JsonElement> RegisterAsync(HttpClient client, string url, params string[] events)
    {
        var response = await client.PostAsJsonAsync("/api/v1/webhooks", new { url, events, description = "test receiver" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>Registers endpoints as many at a time as the test API lets one tenant run.</summary>
    private static async Task<List<JsonElement>> RegisterManyAsync(HttpClient client, IEnumerable<string> urls, params string[] events)
    {
        var registered = new List<JsonElement>();
        foreach (var chunk in urls.Chunk(AppFixture.TenantShare))
        {
            registered.AddRange(await Task.WhenAll(chunk.Select(url => RegisterAsync(client, url, events))));
        }

        return registered;
    }

    private static Guid IdOf(JsonElement endpoint) => endpoint.GetProperty("id").GetGuid();

    private static Task<JsonElement> GetAsync(HttpClient client, JsonElement endpoint) =>
        client.GetFromJsonAsync<JsonElement>($"/api/v1/webhooks/{IdOf(endpoint)}");

    private static async Task<List<JsonElement>> DeliveriesAsync(HttpClient client, JsonElement endpoint) =>
        (await client.GetFromJsonAsync<List<JsonElement>>($"/api/v1/webhooks/{IdOf(endpoint)}/deliveries"))!;

    private static async Task DeleteAsync(HttpClient client, JsonElement endpoint) =>
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/v1/webhooks/{IdOf(endpoint)}")).StatusCode);
}
