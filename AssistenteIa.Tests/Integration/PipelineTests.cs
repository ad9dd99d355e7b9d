using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIaApi.ServiceC.Worker.Dispatching;
using Microsoft.Extensions.DependencyInjection;

namespace AssistenteIa.Tests.Integration;

/// <summary>The reliable execution pipeline: retries, dead letters, duplicates, poison messages, cancellation, crashes.</summary>
[Collection(AppCollection.Name)]
public sealed class PipelineTests(AppFixture fixture)
{
    private static readonly TimeSpan RecoveryDeadline = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Transient_failures_are_retried_after_the_backoff_until_the_task_succeeds()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { failAttempts = 2, failure = "Transient" }, maxAttempts: 3));

        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.Succeeded, done.Status);
        Assert.Equal(3, done.AttemptCount);
        var attempts = await TaskApi.AttemptsAsync(client, task.Id);
        Assert.Equal([AttemptStatus.Failed, AttemptStatus.Failed, AttemptStatus.Succeeded], attempts.Select(a => a.Status));
        Assert.All(attempts.Take(2), a => Assert.Equal("Http503", a.ErrorCode));

        // Tenants read a safe sentence; the provider's own text (URLs, accounts) stays in the worker's log.
        Assert.All(attempts.Take(2), a => Assert.Equal("The model provider answered HTTP 503.", a.ErrorDetail));
        for (var i = 0; i < 2; i++)
        {
            // Each retry starts no earlier than the time its predecessor's backoff scheduled.
            Assert.NotNull(attempts[i].NextAttemptAt);
            Assert.True(attempts[i + 1].StartedAt >= attempts[i].NextAttemptAt, $"attempt {i + 2} started before its backoff ended");
            Assert.True(attempts[i].NextAttemptAt >= attempts[i].EndedAt);
        }

        Assert.Null(attempts[2].NextAttemptAt);
    }

    [Fact]
    public async Task The_writers_mark_their_published_rows_before_the_relay_would_take_them()
    {
        // Task events are published while someone listens (TaskEventDemand).
        await using var listening = await fixture.ListenToTaskEventsAsync();
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body());
        Assert.Equal(AiTaskStatus.Succeeded, (await TaskApi.WaitForTerminalAsync(client, task.Id)).Status);

        // The API (the created and queued events' row, the work message) and ServiceB (the reserved and started events'
        // row, succeeded) mark in batches; a row still unmarked after the relay's grace period would be published a
        // second time.
        await Eventually.UntilAsync(
            () => fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "TaskId" = @p0 AND "SentAt" IS NULL""", task.Id),
            unsent => unsent == 0,
            OutboxRelay.GracePeriod / 2,
            "the task's rows to be marked sent by their writers");
        Assert.Equal(4, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "TaskId" = @p0 AND "PublishAttempts" = 1 AND "LastError" IS NULL""", task.Id));
    }

    [Fact]
    public async Task A_permanent_failure_dead_letters_the_task_after_one_attempt()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { failAttempts = 5, failure = "Permanent" }, maxAttempts: 3));

        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.DeadLetter, done.Status);
        Assert.Equal(1, done.AttemptCount);
        Assert.Equal("Http400: The model provider answered HTTP 400.", done.LastError);
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Equal(AttemptStatus.Failed, attempt.Status);
    }

    [Fact]
    public async Task Transient_failures_on_every_attempt_dead_letter_the_task_after_maxAttempts()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { failAttempts = 2, failure = "Transient" }, maxAttempts: 2));

        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.DeadLetter, done.Status);
        Assert.Equal(2, done.AttemptCount);
        Assert.All(await TaskApi.AttemptsAsync(client, task.Id), a => Assert.Equal(AttemptStatus.Failed, a.Status));
    }

    [Fact]
    public async Task A_duplicated_TaskQueued_message_runs_the_task_once()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "duplicate me"));
        var message = JsonSerializer.Serialize(new { taskId = task.Id, type = "DocumentProcessing/LLM_Generation/Async", attempt = 1, correlationId = task.CorrelationId });
        await Broker.PublishRawAsync(fixture, "", "tasks-queued", message);
        await Broker.PublishRawAsync(fixture, "", "tasks-queued", message);

        // One consumer handles deliveries in order: once a task posted after the duplicates has run, they were handled.
        var barrier = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "barrier"));
        await TaskApi.WaitForStatusAsync(client, barrier.Id, AiTaskStatus.Succeeded);
        var done = await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Succeeded);

        Assert.Equal(1, done.AttemptCount);
        Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Single(await TaskApi.ArtifactsAsync(client, task.Id));
    }

    [Fact]
    public async Task A_garbage_message_goes_to_the_dead_letter_queue_and_the_worker_keeps_going()
    {
        using var client = fixture.CreateApiClient();
        var before = await Broker.ReadyCountAsync(fixture, "tasks-queued.dlq");

        await Broker.PublishRawAsync(fixture, "", "tasks-queued", "this is not json {");

        await Eventually.UntilAsync(() => Broker.ReadyCountAsync(fixture, "tasks-queued.dlq"), n => n > before, TimeSpan.FromSeconds(30), "the garbage message in tasks-queued.dlq");
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "after garbage"));
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Succeeded);
    }

    [Fact]
    public async Task Cancel_of_a_running_task_stops_it_and_records_the_attempt_as_cancelled()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { latencyMs = 30000 }));
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Running);

        using var response = await client.PostAsync($"/api/v1/tasks/{task.Id}/cancel", null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.True((await response.Content.ReadFromJsonAsync<TaskDto>(Json.Options))!.CancelRequested);
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id, TimeSpan.FromSeconds(15));
        Assert.Equal(AiTaskStatus.Cancelled, done.Status);
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Equal(AttemptStatus.Cancelled, attempt.Status);
        TaskApi.AssertPaidForWhatItSent(attempt);
        Assert.True(attempt.LatencyMs < 30000);
    }

    [Fact]
    public async Task A_cancel_signal_on_the_control_exchange_stops_the_running_attempt()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { latencyMs = 30000 }));
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Running);

        // Only the signal, not the database flag the heartbeat watches: the attempt must stop because of it.
        await Broker.PublishRawAsync(fixture, exchange: "tasks-control", routingKey: "", JsonSerializer.Serialize(new { taskId = task.Id, correlationId = task.CorrelationId }));

        var done = await TaskApi.WaitForTerminalAsync(client, task.Id, TimeSpan.FromSeconds(15));
        Assert.Equal(AiTaskStatus.Cancelled, done.Status);
        Assert.Equal(AttemptStatus.Cancelled, Assert.Single(await TaskApi.AttemptsAsync(client, task.Id)).Status);
    }

    [Fact]
    public async Task Every_attempt_of_a_succeeded_task_records_model_tokens_cost_and_latency()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { latencyMs = 50, failAttempts = 1 }));

        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Succeeded);

        var attempts = await TaskApi.AttemptsAsync(client, task.Id);
        var success = attempts.Single(a => a.Status == AttemptStatus.Succeeded);
        Assert.Equal("local-echo-1", success.Model);
        Assert.True(success.TokensIn > 0 && success.TokensOut > 0);
        Assert.Equal(((success.TokensIn * 0.15m) + (success.TokensOut * 0.60m)) / 1_000_000m, success.Cost);
        Assert.InRange(success.LatencyMs, 50 - TaskApi.TimerEarlyToleranceMs, 30_000);
        Assert.All(attempts, a => Assert.NotNull(a.EndedAt));
    }

    [Fact]
    public async Task A_worker_killed_mid_task_is_rescued_and_the_task_succeeds_once()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { latencyMs = 4000 }));
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Running);

        await KillAsync("serviceb");
        try
        {
            // The lease (5 s in tests) expires; ServiceC closes the attempt and schedules a retry.
            await Eventually.UntilAsync(() => TaskApi.AttemptsAsync(client, task.Id), a => a.FirstOrDefault()?.ErrorCode == "LeaseExpired", RecoveryDeadline, "the rescuer to close the lost attempt");
        }
        finally
        {
            await fixture.RestartAsync("serviceb", RecoveryDeadline);
        }

        var done = await TaskApi.WaitForTerminalAsync(client, task.Id, RecoveryDeadline);
        Assert.Equal(AiTaskStatus.Succeeded, done.Status);
        var attempts = await TaskApi.AttemptsAsync(client, task.Id);
        Assert.Single(attempts, a => a.Status == AttemptStatus.Succeeded);
        Assert.Equal(AttemptStatus.Failed, attempts[0].Status);
    }

    [Fact]
    public async Task Tasks_posted_while_the_broker_is_down_are_accepted_and_run_once_it_is_back()
    {
        using var client = fixture.CreateApiClient();
        var ids = new List<Guid>();

        await Broker.RabbitCtlAsync("stop_app");
        try
        {
            for (var i = 0; i < 3; i++)
            {
                ids.Add((await TaskApi.CreateAsync(client, TaskApi.Body(prompt: $"outage {i}"))).Id);
            }

            Assert.True(await fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "SentAt" IS NULL""") >= 3);
        }
        finally
        {
            await Broker.RabbitCtlAsync("start_app");
        }

        foreach (var id in ids)
        {
            var done = await TaskApi.WaitForTerminalAsync(client, id, RecoveryDeadline);
            Assert.Equal(AiTaskStatus.Succeeded, done.Status);
            Assert.Equal(1, done.AttemptCount);
        }
    }

    [Fact]
    public async Task A_post_answers_without_waiting_for_the_brokers_confirms()
    {
        using var client = fixture.CreateApiClient();

        // A memory alarm makes RabbitMQ block every publishing connection: confirms never come. Before outbox rows
        // were published in the background, the request waited out the publish timeout.
        await Broker.RabbitCtlAsync("set_vm_memory_high_watermark 0");
        Guid id;
        try
        {
            var clock = Stopwatch.StartNew();
            id = (await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "blocked broker"))).Id;
            Assert.True(clock.Elapsed < OutboxPublisher.PublishTimeout, $"the POST took {clock.Elapsed}");
        }
        finally
        {
            await Broker.RabbitCtlAsync("set_vm_memory_high_watermark 0.4");
        }

        var done = await TaskApi.WaitForTerminalAsync(client, id, RecoveryDeadline);
        Assert.Equal(AiTaskStatus.Succeeded, done.Status);
        Assert.Equal(1, done.AttemptCount);
    }

    private async Task KillAsync(string resource)
    {
        Assert.True(fixture.App.ResourceNotifications.TryGetCurrentState(resource, out var state), $"{resource} is unknown");
        var pid = state!.Snapshot.Properties.Single(p => p.Name == "executable.pid").Value;
        using var process = Process.GetProcessById(Convert.ToInt32(pid, System.Globalization.CultureInfo.InvariantCulture));
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }
}
