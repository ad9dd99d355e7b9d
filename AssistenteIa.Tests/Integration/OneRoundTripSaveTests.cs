using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// The worker's claim and outcome, saved in one round trip without <c>BEGIN</c>/<c>COMMIT</c>: stored whole, and a save
/// made from a read that another change outdated is refused whole by the database, which has no transaction to roll
/// back by hand. On a database nothing else touches.
/// </summary>
public sealed class OneRoundTripSaveTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    private const string Worker = "worker-one-trip";

    [Fact]
    public async Task A_claim_and_its_outcome_are_one_statement_batch_each_without_a_transaction()
    {
        var id = await InsertQueuedAsync();
        var counter = new RoundTrips();
        await using var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(isolated.ConnectionString).AddInterceptors(counter).Options);
        var task = await db.Tasks.SingleAsync(t => t.Id == id);

        counter.Reset();
        var attempt = Claim(db, task);
        await db.SaveInOneRoundTripAsync(CancellationToken.None);
        Assert.Equal((1, 0), (counter.Batches, counter.Transactions));

        counter.Reset();
        Succeed(db, task, attempt);
        await db.SaveInOneRoundTripAsync(CancellationToken.None);
        Assert.Equal((1, 0), (counter.Batches, counter.Transactions));

        Assert.Equal("Succeeded", await ScalarAsync<string>("""SELECT "Status" FROM "Tasks" WHERE "Id" = @p0""", id));
        Assert.Equal("Succeeded", await ScalarAsync<string>("""SELECT "Status" FROM "TaskAttempts" WHERE "TaskId" = @p0""", id));
        Assert.Equal(1L, await ScalarAsync<long>("""SELECT count(*) FROM "TaskArtifacts" WHERE "TaskId" = @p0""", id));
        Assert.Equal(new long[] { 1, 2, 3, 4, 5 }, await EventSequencesAsync(id));
    }

    [Fact]
    public async Task A_claim_made_from_a_read_that_a_cancel_outdated_stores_nothing()
    {
        var id = await InsertQueuedAsync();
        await using var worker = isolated.CreateDbContext();
        var read = await worker.Tasks.SingleAsync(t => t.Id == id);

        // The client cancels the queued task between the worker's read and its claim.
        await ChangeElsewhereAsync(id, task => task.RequestCancel(DateTimeOffset.UtcNow));

        Claim(worker, read);
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => worker.SaveInOneRoundTripAsync(CancellationToken.None));

        // Without the database refusing it, the attempt and the reserved and started events would be stored beside a
        // cancelled task (the version check alone fails without an error, and there is no transaction to roll back).
        Assert.Equal("Cancelled", await ScalarAsync<string>("""SELECT "Status" FROM "Tasks" WHERE "Id" = @p0""", id));
        Assert.Equal(0L, await ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", id));
        Assert.Equal(new long[] { 1, 2, 3 }, await EventSequencesAsync(id));
    }

    [Fact]
    public async Task An_outcome_made_from_a_read_that_a_cancel_request_outdated_stores_nothing()
    {
        // The client asks for a cancel while the attempt runs; the worker, unaware, records a success.
        var id = await StaleOutcomeIsRefusedAsync(taskId => ChangeElsewhereAsync(taskId, running => running.RequestCancel(DateTimeOffset.UtcNow)));

        Assert.Equal(new long[] { 1, 2, 3, 4, 5 }, await EventSequencesAsync(id));
        Assert.Equal("cancel_requested", await ScalarAsync<string>(
            $"""SELECT "Event" FROM {StoredTaskEvents.Expanded} AS e WHERE e."TaskId" = @p0 AND e."Sequence" = 5""", id));
    }

    [Fact]
    public async Task An_outcome_made_from_a_read_that_a_change_without_an_event_outdated_stores_nothing()
    {
        // An operator's UPDATE (or a restored row) changes the task and records no event: the save's event number is
        // free, so the unique index cannot refuse it; the check at commit does, the task not advanced to that event.
        var id = await StaleOutcomeIsRefusedAsync(taskId => Sql.ExecuteAsync(isolated.ConnectionString, $"""UPDATE "Tasks" SET "Version" = "Version" + 1 WHERE "Id" = '{taskId}'"""));

        Assert.Equal(new long[] { 1, 2, 3, 4 }, await EventSequencesAsync(id));
    }

    [Fact]
    public async Task A_claim_made_from_a_read_that_a_change_without_an_event_outdated_stores_nothing()
    {
        // A claim records two events (reserved, started) and the database checks the last one only: not advanced to it,
        // the task refuses the whole save.
        var id = await InsertQueuedAsync();
        await using var worker = isolated.CreateDbContext();
        var read = await worker.Tasks.SingleAsync(t => t.Id == id);
        await Sql.ExecuteAsync(isolated.ConnectionString, $"""UPDATE "Tasks" SET "Version" = "Version" + 1 WHERE "Id" = '{id}'""");

        Claim(worker, read);
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => worker.SaveInOneRoundTripAsync(CancellationToken.None));

        Assert.Equal("Queued", await ScalarAsync<string>("""SELECT "Status" FROM "Tasks" WHERE "Id" = @p0""", id));
        Assert.Equal(0L, await ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", id));
        Assert.Equal(new long[] { 1, 2 }, await EventSequencesAsync(id));
    }

    [Fact]
    public async Task The_database_checks_the_last_event_of_each_save_that_changes_a_task_and_none_of_a_save_that_inserts_it()
    {
        var id = await InsertQueuedAsync();
        await using (var db = isolated.CreateDbContext())
        {
            var task = await db.Tasks.SingleAsync(t => t.Id == id);
            var attempt = Claim(db, task);
            await db.SaveInOneRoundTripAsync(CancellationToken.None);
            Succeed(db, task, attempt);
            await db.SaveInOneRoundTripAsync(CancellationToken.None);
        }

        // One row a save: created + queued (with the task's insert), reserved + started (the claim), succeeded (the outcome).
        await using (var db = isolated.CreateDbContext())
        {
            var implied = await db.OutboxMessages.AsNoTracking()
                .Where(m => m.TaskId == id && m.Destination == "task-events")
                .OrderBy(m => m.EventSequence)
                .Select(m => m.AdvanceImplied)
                .ToArrayAsync();
            Assert.Equal(new[] { true, false, false }, implied);
        }

        // The trigger skips an implied row and checks any other, here an event past the task's (sequence 5).
        const string Insert = """
            INSERT INTO "OutboxMessages" ("Id", "Destination", "MessageType", "PayloadJson", "Priority", "CreatedAt", "SentAt", "PublishAttempts", "TaskId", "TenantId", "EventSequence", "AdvanceImplied")
            VALUES (gen_random_uuid(), 'task-events', 'task.succeeded', '{}', 0, now(), now(), 0, @p0, 'tenant', @p1, @p2)
            """;
        await ScalarAsync<object>(Insert, id, 6L, true);
        var refused = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => ScalarAsync<object>(Insert, id, 7L, false));
        Assert.Equal(TaskEventGuard.ConstraintName, refused.ConstraintName);
    }

    [Fact]
    public async Task The_check_at_commit_holds_a_row_of_one_saves_events_to_its_last_event()
    {
        var id = await InsertQueuedAsync();
        const string Insert = """
            INSERT INTO "OutboxMessages" ("Id", "Destination", "MessageType", "PayloadJson", "Priority", "CreatedAt", "SentAt", "PublishAttempts", "TaskId", "TenantId", "EventSequence", "AdvanceImplied")
            VALUES (gen_random_uuid(), 'task-events', 'task.events-of-one-save', @p2::jsonb, 0, now(), now(), 0, @p0, 'tenant', @p1, false)
            """;

        // The task is at its second event: a row of events 2 and 3 is refused, though its first number is free and reached.
        var refused = await Assert.ThrowsAsync<Npgsql.PostgresException>(
            () => ScalarAsync<object>(Insert, id, 2L, """{"events":[{"event":"reserved"},{"event":"started"}],"task":{}}"""));
        Assert.Equal(TaskEventGuard.ConstraintName, refused.ConstraintName);
        Assert.Equal(new long[] { 1, 2 }, await EventSequencesAsync(id));

        await ScalarAsync<object>(Insert, id, 2L, """{"events":[{"event":"reserved"}],"task":{}}""");
    }

    [Fact]
    public async Task A_create_refused_by_the_database_stores_none_of_its_events()
    {
        // A create's events are not checked at commit: its insert stores them or fails the batch whole.
        var first = NewWithKey("same-key");
        var second = NewWithKey("same-key");
        await using (var db = isolated.CreateDbContext())
        {
            db.Tasks.Add(first);
            await db.SaveInOneRoundTripAsync(CancellationToken.None);
        }

        await using (var db = isolated.CreateDbContext())
        {
            db.Tasks.Add(second);
            await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveInOneRoundTripAsync(CancellationToken.None));
        }

        Assert.Equal(new long[] { 1, 2 }, await EventSequencesAsync(first.Id));
        Assert.Equal(0L, await ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "TaskId" = @p0""", second.Id));
    }

    [Fact]
    public async Task A_save_smaller_than_the_minimum_batch_takes_a_transaction()
    {
        // Below the minimum batch size EF sends each statement alone: without a transaction each would commit alone.
        var id = await InsertQueuedAsync();
        var counter = new RoundTrips();
        await using var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>()
            .UseNpgsql(isolated.ConnectionString, npgsql => npgsql.MinBatchSize(20)).AddInterceptors(counter).Options);
        var task = await db.Tasks.SingleAsync(t => t.Id == id);

        counter.Reset();
        Claim(db, task);
        await db.SaveInOneRoundTripAsync(CancellationToken.None);
        Assert.Equal(1, counter.Transactions);
    }

    [Fact]
    public async Task A_stale_save_inside_a_transaction_is_a_conflict_too()
    {
        // The API's cancel and the dispatcher's steps save in transactions: whichever statement of the batch meets the
        // other change first (the version check or the event's number), the caller sees the conflict it handles.
        var id = await InsertQueuedAsync();
        await using var api = isolated.CreateDbContext();
        var read = await api.Tasks.SingleAsync(t => t.Id == id);
        await ChangeElsewhereAsync(id, task => task.RequestCancel(DateTimeOffset.UtcNow));

        read.RequestCancel(DateTimeOffset.UtcNow);
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => api.SaveChangesAsync());
        Assert.Equal(new long[] { 1, 2, 3 }, await EventSequencesAsync(id));
    }

    [Fact]
    public async Task A_change_of_a_task_that_records_no_event_is_refused_before_it_is_sent()
    {
        // The event's number is what refuses stale saves: a change without one would leave them unrefused.
        var id = await InsertQueuedAsync();
        await using var db = isolated.CreateDbContext();
        var task = await db.Tasks.SingleAsync(t => t.Id == id);
        db.Entry(task).Property(t => t.LastError).CurrentValue = "changed behind the aggregate's back";

        await Assert.ThrowsAsync<InvalidOperationException>(() => db.SaveChangesAsync());
        Assert.True(await ScalarAsync<bool>("""SELECT "LastError" IS NULL FROM "Tasks" WHERE "Id" = @p0""", id));
    }

    private static AiTask NewWithKey(string idempotencyKey)
    {
        var task = AiTask.Create(
            Guid.CreateVersion7(), "tenant-a", new TaskType(DomainType.DocumentProcessing, CapabilityType.LLM_Generation, ExecutionType.Async),
            Priority.Normal, """{"prompt":"p"}""", 3, idempotencyKey, "hash", "corr", null, DateTimeOffset.UtcNow);
        task.Enqueue(DateTimeOffset.UtcNow);
        return task;
    }

    private static TaskAttempt Claim(AppDbContext db, AiTask task)
    {
        var now = DateTimeOffset.UtcNow;
        task.Reserve(Worker, now.AddMinutes(1), now);
        var attempt = task.Start(now);
        db.TaskAttempts.Add(attempt);
        return attempt;
    }

    private static void Succeed(AppDbContext db, AiTask task, TaskAttempt attempt)
    {
        var now = DateTimeOffset.UtcNow;
        attempt.Close(AttemptStatus.Succeeded, AttemptUsage.None, now);
        db.TaskArtifacts.Add(TaskArtifact.Text(task.Id, attempt.AttemptNo, "answer", now));
        task.Succeed(now);
    }

    /// <summary>
    /// Claims a task, lets <paramref name="changeElsewhere"/> change it, then records a success from the claim's read:
    /// the save is refused and nothing of the outcome is stored (no artifact, the attempt and the task still running).
    /// </summary>
    private async Task<Guid> StaleOutcomeIsRefusedAsync(Func<Guid, Task> changeElsewhere)
    {
        var id = await InsertQueuedAsync();
        await using var worker = isolated.CreateDbContext();
        var task = await worker.Tasks.SingleAsync(t => t.Id == id);
        var attempt = Claim(worker, task);
        await worker.SaveInOneRoundTripAsync(CancellationToken.None);

        await changeElsewhere(id);
        Succeed(worker, task, attempt);
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => worker.SaveInOneRoundTripAsync(CancellationToken.None));

        Assert.Equal("Running", await ScalarAsync<string>("""SELECT "Status" FROM "Tasks" WHERE "Id" = @p0""", id));
        Assert.Equal("Running", await ScalarAsync<string>("""SELECT "Status" FROM "TaskAttempts" WHERE "TaskId" = @p0""", id));
        Assert.Equal(0L, await ScalarAsync<long>("""SELECT count(*) FROM "TaskArtifacts" WHERE "TaskId" = @p0""", id));
        return id;
    }

    private async Task ChangeElsewhereAsync(Guid id, Action<AiTask> change)
    {
        await using var db = isolated.CreateDbContext();
        var task = await db.Tasks.SingleAsync(t => t.Id == id);
        change(task);
        await db.SaveChangesAsync();
    }

    /// <summary>A queued task as the API stores it: created and queued events, the work message.</summary>
    private async Task<Guid> InsertQueuedAsync()
    {
        var task = Domain.Tasks.New();
        task.Enqueue(DateTimeOffset.UtcNow);
        await using var db = isolated.CreateDbContext();
        db.Tasks.Add(task);
        await db.SaveInOneRoundTripAsync(CancellationToken.None);
        return task.Id;
    }

    private Task<long[]> EventSequencesAsync(Guid id) => StoredTaskEvents.SequencesAsync(isolated.ConnectionString, id);

    private Task<T> ScalarAsync<T>(string sql, params object[] parameters) => Sql.ScalarAsync<T>(isolated.ConnectionString, sql, parameters);
}
