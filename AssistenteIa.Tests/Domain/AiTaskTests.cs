using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Exceptions;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Domain;

public sealed class AiTaskTests
{
    private static readonly DateTimeOffset Now = Tasks.Now;

    [Fact]
    public void Starting_a_reserved_task_opens_the_next_attempt()
    {
        var task = Tasks.In(AiTaskStatus.Reserved);

        var attempt = task.Start(Now);

        Assert.Equal(1, task.AttemptCount);
        Assert.Equal(1, attempt.AttemptNo);
        Assert.Equal(AttemptStatus.Running, attempt.Status);
        Assert.Equal("worker-1", attempt.WorkerId);
    }

    [Fact]
    public void A_transient_failure_with_attempts_left_schedules_a_retry_after_the_backoff()
    {
        var task = Tasks.In(AiTaskStatus.Running);

        task.Fail("Http503: busy", ErrorKind.Transient, Tasks.Policy, jitterSample: 0.5, Now);

        Assert.Equal(AiTaskStatus.Failed, task.Status);
        Assert.Equal(Now.AddSeconds(1), task.ScheduledAt);
        Assert.Equal("Http503: busy", task.LastError);
        Assert.Null(task.LockedBy);
    }

    [Fact]
    public void A_transient_failure_of_the_last_attempt_dead_letters_the_task()
    {
        var task = Tasks.New(maxAttempts: 1);
        task.Enqueue(Now);
        task.Reserve("w", Now.AddSeconds(30), Now);
        task.Start(Now);

        task.Fail("Http503", ErrorKind.Transient, Tasks.Policy, 0.5, Now);

        Assert.Equal(AiTaskStatus.DeadLetter, task.Status);
    }

    [Fact]
    public void A_permanent_failure_dead_letters_the_task_at_once()
    {
        var task = Tasks.In(AiTaskStatus.Running);

        task.Fail("Http400", ErrorKind.Permanent, Tasks.Policy, 0.5, Now);

        Assert.Equal(AiTaskStatus.DeadLetter, task.Status);
        Assert.Equal(1, task.AttemptCount);
    }

    [Theory]
    [InlineData(AiTaskStatus.Created)]
    [InlineData(AiTaskStatus.Queued)]
    [InlineData(AiTaskStatus.Failed)]
    public void Cancel_of_a_task_that_is_not_running_cancels_it_at_once(AiTaskStatus status)
    {
        var task = Tasks.In(status);

        var outcome = task.RequestCancel(Now);

        Assert.Equal(CancelOutcome.Cancelled, outcome);
        Assert.Equal(AiTaskStatus.Cancelled, task.Status);
    }

    [Theory]
    [InlineData(AiTaskStatus.Reserved)]
    [InlineData(AiTaskStatus.Running)]
    public void Cancel_of_a_running_task_only_flags_it_for_its_worker(AiTaskStatus status)
    {
        var task = Tasks.In(status);

        var outcome = task.RequestCancel(Now);

        Assert.Equal(CancelOutcome.Requested, outcome);
        Assert.Equal(status, task.Status);
        Assert.True(task.CancelRequested);
    }

    [Theory]
    [InlineData(AiTaskStatus.Succeeded)]
    [InlineData(AiTaskStatus.Cancelled)]
    [InlineData(AiTaskStatus.DeadLetter)]
    public void Cancel_of_a_finished_task_is_refused(AiTaskStatus status)
    {
        var task = Tasks.In(status);

        Assert.Throws<TaskAlreadyFinishedException>(() => task.RequestCancel(Now));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(11)]
    public void MaxAttempts_outside_1_to_10_is_refused(int maxAttempts) =>
        Assert.Throws<DomainException>(() => Tasks.New(maxAttempts));

    [Fact]
    public void A_task_scheduled_in_the_future_is_deferred()
    {
        var task = AiTask.Create(
            Guid.NewGuid(), "t", new TaskType(DomainType.DataAnalysis, CapabilityType.RuleEngine, ExecutionType.Batch), Priority.Low, "{}", 3, null, null, "c", Now.AddMinutes(5), Now);

        Assert.True(task.IsDeferred(Now));
        Assert.False(task.IsDeferred(Now.AddMinutes(5)));
    }

    [Fact]
    public void Attempt_cost_is_tokens_times_the_price_per_million()
    {
        var usage = new AttemptUsage("m", TokensIn: 1_000, TokensOut: 500, InputPricePerMillion: 2.5m, OutputPricePerMillion: 10m);

        Assert.Equal(0.0075m, usage.Cost);
    }

    [Fact]
    public void A_closed_attempt_cannot_be_closed_again()
    {
        var attempt = Tasks.In(AiTaskStatus.Reserved).Start(Now);
        attempt.Close(AttemptStatus.Succeeded, AttemptUsage.None, Now.AddSeconds(1));

        Assert.Throws<DomainException>(() => attempt.Close(AttemptStatus.Failed, AttemptUsage.None, Now.AddSeconds(2)));
        Assert.Equal(1000, attempt.LatencyMs);
    }

    [Fact]
    public void An_attempt_timed_by_whoever_closes_it_keeps_that_latency_whatever_the_wall_clock_did()
    {
        // The wall clock stepped back an hour during the attempt: by its start and end times it lasted -1 h.
        var stepped = Tasks.In(AiTaskStatus.Reserved).Start(Now);
        stepped.Close(AttemptStatus.Succeeded, AttemptUsage.None with { Elapsed = TimeSpan.FromMilliseconds(8_000) }, Now.AddHours(-1));

        var untimed = Tasks.In(AiTaskStatus.Reserved).Start(Now);
        untimed.Close(AttemptStatus.Succeeded, AttemptUsage.None, Now.AddHours(-1));

        Assert.Equal(8_000, stepped.LatencyMs);
        Assert.Equal(0, untimed.LatencyMs);
    }
}
