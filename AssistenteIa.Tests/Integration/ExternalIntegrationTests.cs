using System.Text.Json;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// ExternalIntegration through the whole system against an HTTP server inside the test: the call ServiceB makes, the
/// response it keeps, and how failures are retried or dead-lettered.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class ExternalIntegrationTests(AppFixture fixture)
{
    [Fact]
    public async Task A_call_sends_the_described_request_with_the_named_secret_and_keeps_the_response_without_the_secret()
    {
        await using var server = new LoopbackHttpServer(LoopbackHttpServer.Reply(request =>
            (201, $$"""{"ok":true,"echo":"{{request.Headers.GetValueOrDefault("X-Partner-Token")}}"}""", "application/json")));
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, TaskApi.For("ExternalIntegration", new
        {
            request = new
            {
                method = "POST",
                url = $"{server.Url}/orders?source=test",
                headers = new Dictionary<string, string> { ["X-Trace"] = "abc", ["Content-Type"] = "application/vnd.partner+json" },
                secretHeaders = new Dictionary<string, string> { ["X-Partner-Token"] = AppFixture.IntegrationSecretName },
                body = new { id = 7 },
            },
        }));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.Succeeded, done.Status);
        var sent = Assert.Single(server.Received);
        Assert.Equal(("POST", "/orders?source=test", """{"id":7}"""), (sent.Method, sent.PathAndQuery, sent.Body));
        Assert.Equal("abc", sent.Headers["X-Trace"]);
        Assert.Equal("application/vnd.partner+json", sent.ContentType);
        Assert.Equal(AppFixture.IntegrationSecretValue, sent.Headers["X-Partner-Token"]);

        var response = Response(Assert.Single(await TaskApi.ArtifactsAsync(client, task.Id)));
        Assert.Equal(201, response.GetProperty("status").GetInt32());
        Assert.False(response.GetProperty("bodyBase64").GetBoolean());
        Assert.Equal("""{"ok":true,"echo":"[redacted]"}""", response.GetProperty("body").GetString());
        Assert.StartsWith("application/json", response.GetProperty("headers").GetProperty("Content-Type").GetString());
        Assert.DoesNotContain(AppFixture.IntegrationSecretValue, await fixture.ScalarAsync<string>(
            """SELECT coalesce(string_agg("Content", ''), '') FROM "TaskArtifacts" WHERE "TaskId" = @p0""", task.Id));

        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Equal((1L, "calls", 0m, 0L), (attempt.Units, attempt.Unit, attempt.Cost, attempt.TokensIn));
    }

    [Fact]
    public async Task A_503_is_retried_and_the_retry_keeps_the_body_of_the_answer()
    {
        await using var server = new LoopbackHttpServer(LoopbackHttpServer.Reply(503, "busy"), LoopbackHttpServer.Reply(200, "second time lucky"));
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, Get(server.Url + "/flaky", maxAttempts: 3));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.Succeeded, done.Status);
        Assert.Equal(2, server.Received.Count);
        var attempts = await TaskApi.AttemptsAsync(client, task.Id);
        Assert.Equal(["Http503", null], attempts.Select(a => a.ErrorCode));
        Assert.All(attempts, a => Assert.Equal((1L, "calls"), (a.Units, a.Unit)));
        Assert.Equal("second time lucky", Response(Assert.Single(await TaskApi.ArtifactsAsync(client, task.Id))).GetProperty("body").GetString());
    }

    [Fact]
    public async Task A_404_dead_letters_at_once_without_a_retry()
    {
        await using var server = new LoopbackHttpServer(LoopbackHttpServer.Reply(404, "no such order"), LoopbackHttpServer.Reply(200, "too late"));
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, Get(server.Url + "/orders/404", maxAttempts: 3));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.DeadLetter, done.Status);
        Assert.Equal("Http404", Assert.Single(await TaskApi.AttemptsAsync(client, task.Id)).ErrorCode);
        Assert.Single(server.Received);
        Assert.Empty(await TaskApi.ArtifactsAsync(client, task.Id));
    }

    [Fact]
    public async Task A_redirect_is_not_followed_and_dead_letters()
    {
        await using var target = new LoopbackHttpServer();
        await using var server = new LoopbackHttpServer(LoopbackHttpServer.Reply(302, "", headers: ("Location", target.Url + "/internal")));
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, Get(server.Url + "/moved", maxAttempts: 3));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.DeadLetter, done.Status);
        Assert.Equal("Http302", Assert.Single(await TaskApi.AttemptsAsync(client, task.Id)).ErrorCode);
        Assert.Empty(target.Received);
    }

    [Fact]
    public async Task A_response_over_the_size_limit_dead_letters_as_ResponseTooLarge()
    {
        await using var server = new LoopbackHttpServer(LoopbackHttpServer.Chunked(AppFixture.IntegrationMaxResponseBytes + 1));
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, Get(server.Url + "/huge", maxAttempts: 3));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.DeadLetter, done.Status);
        Assert.Equal("ResponseTooLarge", Assert.Single(await TaskApi.AttemptsAsync(client, task.Id)).ErrorCode);
    }

    [Fact]
    public async Task A_server_that_trickles_its_body_times_out_as_a_transient_failure_and_is_retried()
    {
        // One byte a second for a minute: each byte arrives well within any read timeout, the whole never within the call's.
        await using var server = new LoopbackHttpServer(LoopbackHttpServer.Trickle(60, TimeSpan.FromSeconds(1)), LoopbackHttpServer.Reply(200, "fast now"));
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, Get(server.Url + "/slow", maxAttempts: 2));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.Succeeded, done.Status);
        var attempts = await TaskApi.AttemptsAsync(client, task.Id);
        Assert.Equal(["Timeout", null], attempts.Select(a => a.ErrorCode));
        Assert.InRange(attempts[0].LatencyMs, (long)AppFixture.IntegrationTimeout.TotalMilliseconds - 100, 20_000);
    }

    [Fact]
    public async Task A_prompt_has_the_model_summarise_the_response_and_its_tokens_are_added_to_the_call()
    {
        await using var server = new LoopbackHttpServer(LoopbackHttpServer.Reply(200, """{"order":7,"status":"shipped","carrier":"DHL"}""", "application/json"));
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, TaskApi.For("ExternalIntegration", new
        {
            prompt = "Summarise the order status for the customer.",
            request = new { url = server.Url + "/orders/7" },
        }));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.Succeeded, done.Status);
        var artifacts = await TaskApi.ArtifactsAsync(client, task.Id);
        Assert.Equal(["response", "summary"], artifacts.Select(a => a.Name));
        Assert.False(string.IsNullOrWhiteSpace(artifacts[1].Content));
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Equal((1L, "calls"), (attempt.Units, attempt.Unit));
        Assert.True(attempt.TokensIn > 0 && attempt.TokensOut > 0, $"tokens {attempt.TokensIn}/{attempt.TokensOut}");
        Assert.DoesNotContain("http", attempt.Model);
    }

    [Fact]
    public async Task A_secret_name_that_is_not_configured_dead_letters_without_calling()
    {
        await using var server = new LoopbackHttpServer();
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, TaskApi.For("ExternalIntegration", new
        {
            request = new { url = server.Url + "/x", secretHeaders = new Dictionary<string, string> { ["Authorization"] = "nobodysSecret" } },
        }, maxAttempts: 3));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.DeadLetter, done.Status);
        Assert.Equal("UnknownSecret", Assert.Single(await TaskApi.AttemptsAsync(client, task.Id)).ErrorCode);
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task A_secret_is_not_sent_to_a_host_it_is_not_bound_to()
    {
        await using var server = new LoopbackHttpServer();
        using var client = fixture.CreateApiClient();

        // localhost reaches the same server, but the secret is bound to 127.0.0.1 only.
        var task = await TaskApi.CreateAsync(client, TaskApi.For("ExternalIntegration", new
        {
            request = new { url = $"http://localhost:{server.Port}/steal", secretHeaders = new Dictionary<string, string> { ["X-Partner-Token"] = AppFixture.IntegrationSecretName } },
        }, maxAttempts: 3));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.DeadLetter, done.Status);
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Equal("SecretNotAllowed", attempt.ErrorCode);
        Assert.DoesNotContain(AppFixture.IntegrationSecretValue, attempt.ErrorDetail);
        Assert.Empty(server.Received);
    }

    private static object Get(string url, int maxAttempts) => TaskApi.For("ExternalIntegration", new { request = new { url } }, maxAttempts: maxAttempts);

    private static JsonElement Response(TaskArtifactDto artifact)
    {
        Assert.Equal(("response", "application/json"), (artifact.Name, artifact.MediaType));
        return JsonDocument.Parse(artifact.Content!).RootElement;
    }
}
