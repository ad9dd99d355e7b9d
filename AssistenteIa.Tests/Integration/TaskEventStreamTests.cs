using System.Text.Json;
using AssistenteIa.Domain.ValueObjects;
using RabbitMQ.Client;

namespace AssistenteIa.Tests.Integration;

/// <summary>The lifecycle as a stream: while a listener is registered, every change of a task reaches the task-events topic exchange.</summary>
[Collection(AppCollection.Name)]
public sealed class TaskEventStreamTests(AppFixture fixture)
{
    [Fact]
    public async Task A_task_that_runs_publishes_its_events_in_sequence_on_task_events()
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(fixture.BrokerUri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await using var listening = await fixture.ListenToTaskEventsAsync();
        var queue = await SubscribeAsync(channel, "task.#");
        using var client = fixture.CreateApiClient();

        var task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "follow my events"));
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Succeeded);

        var events = await Eventually.UntilAsync(
            () => ReadEventsAsync(channel, queue, task.Id),
            e => e.Any(x => x.Name == "succeeded"),
            TimeSpan.FromSeconds(20),
            "the succeeded event");
        var ordered = events.OrderBy(e => e.Sequence).ToList();
        Assert.Equal(["created", "queued", "reserved", "started", "succeeded"], ordered.Select(e => e.Name));
        Assert.Equal([1L, 2, 3, 4, 5], ordered.Select(e => e.Sequence));
        Assert.All(ordered, e => Assert.Equal($"task.{e.Name}", e.RoutingKey));
        Assert.Equal(["Created", "Queued", "Reserved", "Running", "Succeeded"], ordered.Select(e => e.Body.GetProperty("status").GetString()));
        Assert.Equal("Succeeded", ordered[^1].Body.GetProperty("task").GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, ordered[^1].Body.GetProperty("task").GetProperty("payload").ValueKind);
    }

    [Fact]
    public async Task Cancelling_a_running_task_publishes_cancel_requested_then_cancelled()
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(fixture.BrokerUri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await using var listening = await fixture.ListenToTaskEventsAsync();
        var queue = await SubscribeAsync(channel, "task.cancel_requested", "task.cancelled");
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(simulation: new { latencyMs = 30000 }));
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Running);

        (await client.PostAsync($"/api/v1/tasks/{task.Id}/cancel", null)).EnsureSuccessStatusCode();
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Cancelled, TimeSpan.FromSeconds(15));

        var events = await Eventually.UntilAsync(
            () => ReadEventsAsync(channel, queue, task.Id),
            e => e.Count >= 2,
            TimeSpan.FromSeconds(20),
            "the cancel events");
        Assert.Equal(["cancel_requested", "cancelled"], events.OrderBy(e => e.Sequence).Select(e => e.Name));
    }

    private readonly List<TaskEventRead> _read = [];

    /// <summary>A private queue bound to task-events with the given routing keys.</summary>
    private static async Task<string> SubscribeAsync(IChannel channel, params string[] routingKeys)
    {
        await channel.ExchangeDeclareAsync("task-events", ExchangeType.Topic, durable: true);
        var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        foreach (var key in routingKeys)
        {
            await channel.QueueBindAsync(queue, "task-events", key);
        }

        return queue;
    }

    private async Task<List<TaskEventRead>> ReadEventsAsync(IChannel channel, string queue, Guid taskId)
    {
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
        {
            var body = JsonSerializer.Deserialize<JsonElement>(message.Body.Span);
            _read.Add(new TaskEventRead(
                body.GetProperty("task").GetProperty("id").GetGuid(),
                body.GetProperty("event").GetString()!,
                body.GetProperty("sequence").GetInt64(),
                message.RoutingKey,
                body));
        }

        return _read.Where(e => e.TaskId == taskId).ToList();
    }

    private sealed record TaskEventRead(Guid TaskId, string Name, long Sequence, string RoutingKey, JsonElement Body);
}
