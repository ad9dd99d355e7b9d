using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Events;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Domain;

public sealed class DatabaseClockTests
{
    private static readonly DateTimeOffset DatabaseNow = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Nothing_is_known_before_a_reading_nor_after_one_is_forgotten()
    {
        var clock = new TwoClocks();
        var database = new DatabaseClock(clock);
        Assert.Null(database.Now());

        Observe(database, clock, roundTrip: TimeSpan.FromMilliseconds(2));
        Assert.NotNull(database.Now());

        database.Forget();
        Assert.Null(database.Now());
    }

    [Fact]
    public void The_estimate_never_runs_ahead_of_the_database_and_its_fencing_moment_is_no_later_than_the_estimate()
    {
        var clock = new TwoClocks();
        var database = new DatabaseClock(clock);
        var sent = ClockReading.Of(clock);
        clock.Advance(TimeSpan.FromMilliseconds(4));

        // The database read now() somewhere in those 4 ms; the latest it can be at the answer is DatabaseNow + 4 ms.
        database.Observe(DatabaseNow, sent, ClockReading.Of(clock));
        clock.Advance(TimeSpan.FromSeconds(30));
        var estimate = database.Now()!;

        // Counted short by the rate margin: 30 s less 30 ms, below the latest the database's clock can read (+30 s).
        var margin = TimeSpan.FromSeconds(30 * DatabaseClock.RateMargin);
        Assert.Equal(DatabaseNow + TimeSpan.FromSeconds(30) - margin, estimate.DatabaseNow);

        // The fencing counts from a moment at which the database's clock could not yet have passed the estimate even
        // running that much faster than this one: the reading's round trip and the margin twice before now.
        var now = ClockReading.Of(clock);
        var before = now.MonotonicSince(estimate.AsOf);
        Assert.InRange(before, TimeSpan.FromMilliseconds(4) + margin + margin - TimeSpan.FromMilliseconds(0.1), TimeSpan.FromMilliseconds(4) + margin + margin);
        Assert.Equal(before, now.WallSince(estimate.AsOf));
    }

    [Fact]
    public void A_slow_reading_is_not_kept()
    {
        // A cold first read of 5 s would make every claim from it look slow, and renew its lease at once, for a minute.
        var clock = new TwoClocks();
        var database = new DatabaseClock(clock);

        Observe(database, clock, roundTrip: DatabaseClock.MaxRoundTrip + TimeSpan.FromMilliseconds(1));
        Assert.Null(database.Now());

        Observe(database, clock, roundTrip: DatabaseClock.MaxRoundTrip);
        Assert.NotNull(database.Now());
    }

    [Fact]
    public void A_reading_older_than_the_limit_is_not_used()
    {
        var clock = new TwoClocks();
        var database = new DatabaseClock(clock);
        Observe(database, clock, roundTrip: TimeSpan.FromMilliseconds(1));

        clock.Advance(DatabaseClock.MaxAge - TimeSpan.FromSeconds(1));
        Assert.NotNull(database.Now());
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(database.Now());
    }

    [Theory]
    [InlineData(60_000)] // the wall clock stepped forward, or the machine slept (its monotonic clock stood still)
    [InlineData(-60_000)] // the wall clock stepped back
    [InlineData(0)] // no step: the reading is used
    public void A_reading_is_not_used_once_the_wall_clock_and_the_monotonic_clock_disagree_about_the_time_since(int wallStepMs)
    {
        var clock = new TwoClocks();
        var database = new DatabaseClock(clock);
        Observe(database, clock, roundTrip: TimeSpan.FromMilliseconds(1));

        clock.Advance(TimeSpan.FromSeconds(5));
        clock.StepWall(TimeSpan.FromMilliseconds(wallStepMs));

        Assert.Equal(wallStepMs == 0, database.Now() is not null);
    }

    [Fact]
    public void A_work_message_carries_the_task_whole_and_is_read_back_as_stored()
    {
        var now = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero).AddTicks(1234567);
        var task = NewTask(now);
        task.Enqueue(now);

        var message = QueuedMessage(task, version: 3);
        var queued = QueuedTask.Of(JsonSerializer.Deserialize<TaskQueued>(JsonSerializer.Serialize(message, JsonDefaults.Options), JsonDefaults.Options)!);

        Assert.NotNull(queued);
        Assert.Equal(3, queued.Version);
        Assert.Equal(task.ToState(), queued.State);

        // As the database stores times: to the microsecond.
        Assert.Equal(0, queued.State.CreatedAt.UtcTicks % TimeSpan.TicksPerMicrosecond);
        var restored = AiTask.Restore(queued.State);
        Assert.Equal((task.Id, task.Status, task.PayloadJson, task.EventSequence, task.AttemptCount), (restored.Id, restored.Status, restored.PayloadJson, restored.EventSequence, restored.AttemptCount));
        Assert.Empty(restored.PendingEvents);
    }

    [Fact]
    public void A_work_message_carries_no_task_when_its_payload_is_large()
    {
        var now = DateTimeOffset.UtcNow;
        var task = NewTask(now, $$"""{"prompt":"{{new string('x', QueuedTask.MaxPayloadLength)}}"}""");
        task.Enqueue(now);

        Assert.Null(QueuedMessage(task, version: 0).Task);
    }

    [Theory]
    [InlineData("""{"state":{"id":"00000000-0000-0000-0000-000000000001"},"version":1}""")] // another task's, and incomplete
    [InlineData("""{"state":"x","version":1}""")]
    [InlineData("[]")]
    [InlineData("[{\"state\":{}}, 2]")]
    [InlineData("7")]
    public async Task A_task_in_a_work_message_that_this_build_cannot_read_whole_is_left_to_a_read(string json)
    {
        var taskId = Guid.NewGuid();
        var body = $$"""{"taskId":"{{taskId}}","type":"DataAnalysis/LLM_Generation/Async","attempt":1,"task":{{json}},"correlationId":"c"}""";

        // Read whole, and from a stream in small pieces (the reader then never holds the final block).
        var small = new JsonSerializerOptions(JsonDefaults.Options) { DefaultBufferSize = 16 };
        foreach (var message in new[]
                 {
                     JsonSerializer.Deserialize<TaskQueued>(body, JsonDefaults.Options)!,
                     (await JsonSerializer.DeserializeAsync<TaskQueued>(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(body)), small))!,
                 })
        {
            // The rest of the message reads, after the task as before it.
            Assert.Equal((taskId, 1, "c"), (message.TaskId, message.Attempt, message.CorrelationId));
            Assert.Null(message.Task);
            Assert.Null(QueuedTask.Of(message));
        }
    }

    [Fact]
    public void A_task_whose_status_this_build_does_not_know_is_left_to_a_read()
    {
        var now = DateTimeOffset.UtcNow;
        var task = NewTask(now);
        task.Enqueue(now);
        var json = JsonSerializer.Serialize(QueuedMessage(task, version: 0), JsonDefaults.Options).Replace("\"status\":\"Queued\"", "\"status\":\"Paused\"", StringComparison.Ordinal);
        Assert.Contains("Paused", json, StringComparison.Ordinal);

        Assert.Null(QueuedTask.Of(JsonSerializer.Deserialize<TaskQueued>(json, JsonDefaults.Options)!));
    }

    [Fact]
    public void A_task_missing_a_field_or_named_for_another_task_is_left_to_a_read()
    {
        var now = DateTimeOffset.UtcNow;
        var task = NewTask(now);
        task.Enqueue(now);
        var message = QueuedMessage(task, version: 0);
        Assert.NotNull(QueuedTask.Of(message));

        // A build whose state lacks a field would otherwise run the task with its default (0 attempts allowed).
        var json = JsonSerializer.Serialize(message, JsonDefaults.Options).Replace("\"maxAttempts\":3,", "", StringComparison.Ordinal);
        Assert.DoesNotContain("maxAttempts", json, StringComparison.Ordinal);
        Assert.Null(QueuedTask.Of(JsonSerializer.Deserialize<TaskQueued>(json, JsonDefaults.Options)!));
        Assert.Null(QueuedTask.Of(message with { TaskId = Guid.NewGuid() }));
    }

    [Fact]
    public void A_claim_is_made_from_a_message_only_within_its_window_of_the_database_clock()
    {
        var now = DateTimeOffset.UtcNow;
        var task = NewTask(now);
        task.Enqueue(now);
        var queued = QueuedTask.Of(QueuedMessage(task, version: 0))!;
        var stamped = queued.State.UpdatedAt;

        Assert.True(queued.IsRecent(stamped));
        Assert.True(queued.IsRecent(stamped + QueuedTask.MaxAge));
        Assert.False(queued.IsRecent(stamped + QueuedTask.MaxAge + TimeSpan.FromMilliseconds(1)));
        Assert.True(queued.IsRecent(stamped - QueuedTask.MaxAhead));
        Assert.False(queued.IsRecent(stamped - QueuedTask.MaxAhead - TimeSpan.FromMilliseconds(1)));
    }

    private static AiTask NewTask(DateTimeOffset now, string payloadJson = """{"prompt":"p"}""") => AiTask.Create(
        Guid.CreateVersion7(),
        "tenant-a",
        new TaskType(DomainType.DocumentProcessing, CapabilityType.LLM_Generation, ExecutionType.Async),
        Priority.Normal,
        payloadJson,
        3,
        null,
        null,
        "corr",
        null,
        now);

    private static TaskQueued QueuedMessage(AiTask task, int version)
    {
        var events = task.TakeEvents();
        Assert.Contains(events, e => e.Name == TaskEventNames.Queued);
        var work = Application.Tasks.TaskEventMessages.For(task, events, traceParent: null, version).Single(m => m.Destination == Queues.TasksQueued);
        return JsonSerializer.Deserialize<TaskQueued>(work.PayloadJson, JsonDefaults.Options)!;
    }

    private static void Observe(DatabaseClock database, TwoClocks clock, TimeSpan roundTrip)
    {
        var sent = ClockReading.Of(clock);
        clock.Advance(roundTrip);
        database.Observe(DatabaseNow, sent, ClockReading.Of(clock));
    }

    /// <summary>A wall clock and a monotonic clock that advance together unless a test steps the wall clock alone.</summary>
    private sealed class TwoClocks : TimeProvider
    {
        private DateTimeOffset _wall = new(2026, 11, 28, 11, 0, 0, TimeSpan.Zero);
        private long _timestamp = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override DateTimeOffset GetUtcNow() => _wall;

        public override long GetTimestamp() => _timestamp;

        public void Advance(TimeSpan time)
        {
            _wall += time;
            _timestamp += time.Ticks;
        }

        public void StepWall(TimeSpan step) => _wall += step;
    }
}
