using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Events;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Domain;

/// <summary>The events one save records share one outbox row, and come out of it as the messages they are published as.</summary>
public sealed class TaskEventRowsTests
{
    [Fact]
    public void A_create_stores_created_and_queued_in_one_row_followed_by_the_work_message()
    {
        var task = Tasks.New();
        Tasks.Drive(task, AiTaskStatus.Queued);

        var rows = TaskEventMessages.For(task, task.TakeEvents(), traceParent: null, version: 1).ToList();

        Assert.Equal([Queues.TaskEvents, Queues.TasksQueued], rows.Select(r => r.Destination));
        var row = rows[0];
        Assert.Equal(Queues.TaskEventsOfOneSaveType, row.MessageType);
        Assert.Equal(1, row.EventSequence);
        Assert.Equal(task.Id, row.TaskId);
        Assert.Equal(task.TenantId, row.TenantId);

        // The task is stored once, not once an event: it is most of a body.
        using (var stored = JsonDocument.Parse(row.PayloadJson))
        {
            Assert.Equal(2, stored.RootElement.GetProperty("events").GetArrayLength());
            Assert.Equal(task.Id, stored.RootElement.GetProperty("task").GetProperty("id").GetGuid());
            Assert.All(stored.RootElement.GetProperty("events").EnumerateArray(), e => Assert.False(e.TryGetProperty("task", out _)));
        }

        var events = TaskEventRows.Events(row);
        Assert.Equal(["task.created", "task.queued"], events.Select(e => e.Type));
        Assert.Equal([row.Id, TaskEventRows.EventId(row.Id, 1)], events.Select(e => e.Id));
        Assert.NotEqual(events[0].Id, events[1].Id);
        var bodies = events.Select(e => JsonSerializer.Deserialize<TaskEventMessage>(e.Json, JsonDefaults.Options)!).ToList();
        Assert.Equal([1L, 2], bodies.Select(b => b.Sequence));
        Assert.Equal([TaskEventNames.Created, TaskEventNames.Queued], bodies.Select(b => b.Event));
        Assert.All(bodies, b => Assert.Equal(AiTaskStatus.Queued, b.Task.Status));
        Assert.All(bodies, b => Assert.Equal(task.Id, b.Task.Id));
        Assert.Equal([null, AiTaskStatus.Created], bodies.Select(b => b.From));
    }

    [Fact]
    public void A_save_of_one_event_stores_it_as_it_is_published()
    {
        var task = Tasks.New();
        Tasks.Drive(task, AiTaskStatus.Queued);
        Tasks.Drive(task, AiTaskStatus.Reserved);
        Tasks.Drive(task, AiTaskStatus.Running);
        task.TakeEvents();
        Tasks.Drive(task, AiTaskStatus.Succeeded);

        var row = Assert.Single(TaskEventMessages.For(task, task.TakeEvents()));

        Assert.Equal("task.succeeded", row.MessageType);
        Assert.Equal(5, row.EventSequence);
        var stored = Assert.Single(TaskEventRows.Events(row));
        Assert.Equal(new StoredTaskEvent(row.Id, row.MessageType, row.PayloadJson), stored);
        Assert.Equal(5, JsonSerializer.Deserialize<TaskEventMessage>(stored.Json, JsonDefaults.Options)!.Sequence);
    }

    [Fact]
    public void More_events_than_a_row_holds_go_into_more_rows_numbered_by_their_first_event()
    {
        var task = Tasks.New();
        var created = Assert.Single(task.TakeEvents());
        var events = Enumerable.Range(0, TaskEventRows.MaxEvents + 1)
            .Select(i => created with { Sequence = created.Sequence + i, Name = i == 0 ? created.Name : TaskEventNames.CancelRequested })
            .ToList();

        var rows = TaskEventMessages.For(task, events).Where(r => r.Destination == Queues.TaskEvents).ToList();

        Assert.Equal([1L, 1 + TaskEventRows.MaxEvents], rows.Select(r => r.EventSequence));
        Assert.Equal([TaskEventRows.MaxEvents, 1], rows.Select(r => TaskEventRows.Events(r).Count));
        Assert.Equal(events.Count, rows.SelectMany(TaskEventRows.Events).Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public void An_events_id_finds_its_row_and_its_place_in_it()
    {
        var task = Tasks.New();
        Tasks.Drive(task, AiTaskStatus.Queued);
        var row = TaskEventMessages.For(task, task.TakeEvents()).First();

        for (var index = 0; index < TaskEventRows.MaxEvents; index++)
        {
            Assert.Equal((row.Id, index), TaskEventRows.RowIdOf(TaskEventRows.EventId(row.Id, index)));
        }

        Assert.Equal(7, row.Id.Version);
        Assert.Throws<ArgumentOutOfRangeException>(() => TaskEventRows.EventId(row.Id, TaskEventRows.MaxEvents));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[{\"event\":\"created\"}]")]
    [InlineData("{\"events\":[],\"task\":{}}")]
    [InlineData("{\"events\":[{\"event\":\"created\"}]}")]
    [InlineData("{\"events\":[{\"event\":\"created\"}],\"task\":1}")]
    [InlineData("{\"events\":[{\"sequence\":1}],\"task\":{}}")]
    [InlineData("{\"events\":[\"created\"],\"task\":{}}")]
    [InlineData("{\"events\":[{\"event\":1}],\"task\":{}}")]
    [InlineData("{\"events\":[{\"event\":\"a\"},{\"event\":\"b\"},{\"event\":\"c\"},{\"event\":\"d\"},{\"event\":\"e\"},{\"event\":\"f\"},{\"event\":\"g\"},{\"event\":\"h\"},{\"event\":\"i\"},{\"event\":\"j\"},{\"event\":\"k\"},{\"event\":\"l\"},{\"event\":\"m\"},{\"event\":\"n\"},{\"event\":\"o\"},{\"event\":\"p\"},{\"event\":\"q\"}],\"task\":{}}")]
    public void A_row_that_cannot_be_split_comes_out_as_it_is_and_holds_nothing_up(string payloadJson)
    {
        var id = Guid.CreateVersion7();

        var stored = Assert.Single(TaskEventRows.Events(id, Queues.TaskEventsOfOneSaveType, payloadJson));

        Assert.Equal(new StoredTaskEvent(id, Queues.TaskEventsOfOneSaveType, payloadJson), stored);
    }
}
