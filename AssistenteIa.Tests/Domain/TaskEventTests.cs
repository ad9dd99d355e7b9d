using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Events;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Domain;

/// <summary>Every change of the aggregate records exactly the events it means, numbered per task.</summary>
public sealed class TaskEventTests
{
    private static readonly DateTimeOffset Now = Tasks.Now;

    [Fact]
    public void A_task_that_runs_and_succeeds_records_created_queued_reserved_started_succeeded_in_sequence()
    {
        var task = Tasks.New();
        Tasks.Drive(task, AiTaskStatus.Queued);
        Tasks.Drive(task, AiTaskStatus.Reserved);
        Tasks.Drive(task, AiTaskStatus.Running);
        Tasks.Drive(task, AiTaskStatus.Succeeded);

        var events = task.TakeEvents();

        Assert.Equal(["created", "queued", "reserved", "started", "succeeded"], events.Select(e => e.Name));
        Assert.Equal([1L, 2, 3, 4, 5], events.Select(e => e.Sequence));
        Assert.Equal([null, AiTaskStatus.Created, AiTaskStatus.Queued, AiTaskStatus.Reserved, AiTaskStatus.Running], events.Select(e => e.From));
        Assert.All(events, e => Assert.Equal(task.Id, e.TaskId));
        Assert.All(events, e => Assert.Equal("tenant-a", e.TenantId));
        Assert.Equal(1, events.Single(e => e.Name == "started").AttemptNo);
        Assert.Equal(5, task.EventSequence);
    }

    [Fact]
    public void Taken_events_are_handed_out_once()
    {
        var task = Tasks.New();

        Assert.Single(task.TakeEvents());
        Assert.Empty(task.TakeEvents());
        Tasks.Drive(task, AiTaskStatus.Queued);
        Assert.Equal(2, Assert.Single(task.TakeEvents()).Sequence);
    }

    [Theory]
    [InlineData(ErrorKind.Transient, "failed")]
    [InlineData(ErrorKind.Permanent, "deadlettered")]
    public void A_failed_attempt_records_failed_or_deadlettered(ErrorKind kind, string expected)
    {
        var task = Tasks.In(AiTaskStatus.Running);
        task.TakeEvents();

        task.FailAttempt(Tasks.CurrentAttempt(task), AttemptUsage.None, "Http503", "busy", kind, Tasks.Policy, 0.5, Now);

        Assert.Equal([expected], task.TakeEvents().Select(e => e.Name));
    }

    [Fact]
    public void A_cancel_request_records_cancel_requested_for_a_running_task_and_cancelled_for_a_waiting_one()
    {
        var running = Tasks.In(AiTaskStatus.Running);
        var queued = Tasks.In(AiTaskStatus.Queued);
        running.TakeEvents();
        queued.TakeEvents();

        running.RequestCancel(Now);
        queued.RequestCancel(Now);

        var requested = Assert.Single(running.TakeEvents());
        Assert.Equal(TaskEventNames.CancelRequested, requested.Name);
        Assert.Equal(AiTaskStatus.Running, requested.Status);
        Assert.Equal([TaskEventNames.Cancelled], queued.TakeEvents().Select(e => e.Name));
    }

    [Fact]
    public void An_interrupted_attempt_records_queued_and_an_announced_again_task_records_requeued()
    {
        var task = Tasks.In(AiTaskStatus.Running);
        task.TakeEvents();

        task.InterruptAttempt(Tasks.CurrentAttempt(task), AttemptUsage.None, "deploy", Now);
        task.Requeue(Now);

        Assert.Equal([TaskEventNames.Queued, TaskEventNames.Requeued], task.TakeEvents().Select(e => e.Name));
    }
}
