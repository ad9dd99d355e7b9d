using System.Diagnostics.Metrics;
using AssistenteIa.Application;
using AssistenteIa.Application.Dispatching;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// A task the database refuses to move whatever is read (here: its next event number is already stored, as a save made
/// from a read older than the outbox's retention would find) is the oldest of its batch in each dispatcher step. It used
/// to fail the whole batch every round, so no task behind it was ever rescued, queued or announced again.
/// </summary>
public sealed class RefusedTaskTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>, IAsyncLifetime
{
    private readonly FakeTimeProvider _refusalClock = new(DateTimeOffset.UtcNow);

    [Fact]
    public async Task The_lease_rescuer_moves_the_tasks_behind_one_it_cannot_move_and_tries_that_one_again_later()
    {
        var tenant = SeededTasks.NewTenant("refused");
        var now = DateTimeOffset.UtcNow;
        var running = Enumerable.Range(0, 3).Select(i => SeededTasks.Running(tenant, leaseEnded: now.AddMinutes(-10 + i), now)).ToList();
        var tasks = running.Select(r => r.Task).ToList();
        await isolated.SaveAsync(tasks, running.Select(r => r.Attempt));
        var poisoned = tasks[0];
        await StoreEventAheadOfAsync(poisoned);

        // The round finds the task it cannot move; the next goes on without it, and the one after finds nothing.
        var refused = new RefusedTasks(_refusalClock);
        Assert.Equal(0, await RescueAsync(refused));
        Assert.Equal([poisoned.Id], refused.LeftOut(RescueExpiredLeasesHandler.Step));
        Assert.Equal(2, await RescueAsync(refused));
        Assert.Equal([AiTaskStatus.Running, AiTaskStatus.Failed, AiTaskStatus.Failed], await isolated.StatusesAsync(tasks));
        Assert.Equal(0, await RescueAsync(refused));

        // An operator repairs it; once its hold-off is over, the rescuer takes it back.
        await DeleteEventAheadOfAsync(poisoned);
        _refusalClock.Advance(RefusedTasks.HoldOff);
        Assert.Equal(1, await RescueAsync(refused));
        Assert.Equal([AiTaskStatus.Failed, AiTaskStatus.Failed, AiTaskStatus.Failed], await isolated.StatusesAsync(tasks));
    }

    [Fact]
    public async Task The_scheduler_queues_the_due_tasks_behind_one_it_cannot_move()
    {
        var tenant = SeededTasks.NewTenant("refused");
        var now = DateTimeOffset.UtcNow;
        var tasks = Enumerable.Range(0, 3).Select(i => SeededTasks.Created(tenant, now, scheduledAt: now.AddMinutes(-10 + i))).ToList();
        await isolated.SaveAsync(tasks, []);
        await StoreEventAheadOfAsync(tasks[0]);

        // Two rounds of the dispatcher: the first finds the task it cannot move, the second goes on without it.
        var refused = new RefusedTasks(_refusalClock);
        for (var round = 0; round < 2; round++)
        {
            await ScheduleAsync(refused);
        }

        Assert.Equal([AiTaskStatus.Created, AiTaskStatus.Queued, AiTaskStatus.Queued], await isolated.StatusesAsync(tasks));
        Assert.Equal([tasks[0].Id], refused.LeftOut(ScheduleDueTasksHandler.Step));
    }

    [Fact]
    public async Task The_stale_queue_requeuer_announces_the_tasks_behind_one_it_cannot_move()
    {
        var tenant = SeededTasks.NewTenant("refused");
        var now = DateTimeOffset.UtcNow;
        var tasks = Enumerable.Range(0, 3).Select(i => SeededTasks.Queued(tenant, at: now.AddMinutes(-30 + i))).ToList();
        await isolated.SaveAsync(tasks, []);
        await isolated.MarkWorkMessagesSentAsync(tasks);
        await StoreEventAheadOfAsync(tasks[0]);

        var refused = new RefusedTasks(_refusalClock);
        var requeued = 0;
        for (var round = 0; round < 2; round++)
        {
            requeued += await RequeueAsync(refused);
        }

        Assert.Equal(2, requeued);
        Assert.Equal([tasks[0].Id], refused.LeftOut(RequeueStaleTasksHandler.Step));

        // A requeue leaves the task Queued with a new event: the poisoned one has none beyond its stored one.
        Assert.Equal([2L, 3L, 3L], await isolated.EventSequencesAsync(tasks));
    }

    [Fact]
    public async Task Two_schedulers_at_once_never_refuse_each_other_and_queue_every_due_task_once()
    {
        for (var round = 0; round < 5; round++)
        {
            var tenant = SeededTasks.NewTenant("refused");
            var now = DateTimeOffset.UtcNow;
            var tasks = Enumerable.Range(0, 200).Select(i => SeededTasks.Created(tenant, now, scheduledAt: now.AddMinutes(-1).AddMilliseconds(i))).ToList();
            await isolated.SaveAsync(tasks, []);

            await using var first = isolated.CreateDbContext();
            await using var second = isolated.CreateDbContext();
            var logs = new[] { new FakeLogger<ScheduleDueTasksHandler>(), new FakeLogger<ScheduleDueTasksHandler>() };
            var schedulers = new[]
            {
                new ScheduleDueTasksHandler(first, isolated.Outbox(first), TimeProvider.System, new RefusedTasks(_refusalClock), logs[0]),
                new ScheduleDueTasksHandler(second, isolated.Outbox(second), TimeProvider.System, new RefusedTasks(_refusalClock), logs[1]),
            };

            // Both connections are open before the gate opens, so the two rounds really overlap.
            await first.Database.OpenConnectionAsync();
            await second.Database.OpenConnectionAsync();
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var rounds = schedulers.Select(s => Task.Run(async () => { await gate.Task; return await s.HandleAsync(100, CancellationToken.None); })).ToList();
            gate.SetResult();
            var queued = (await Task.WhenAll(rounds)).Sum();

            // Then rounds one after the other until nothing is due, as the dispatcher's ticks would.
            for (var next = 1; next > 0; queued += next)
            {
                next = await schedulers[round % 2].HandleAsync(100, CancellationToken.None);
            }

            Assert.Equal(200, queued);
            Assert.All(logs, log => Assert.DoesNotContain(log.Collector.GetSnapshot(), r => r.Message.Contains("refused", StringComparison.Ordinal)));
            Assert.All(await isolated.EventSequencesAsync(tasks), sequence => Assert.Equal(2L, sequence));
            await ClearAsync();
        }
    }

    [Theory]
    [InlineData("DomainType")]
    [InlineData("CapabilityType")]
    [InlineData("TaskExecutionType")]
    [InlineData("Priority")]
    public async Task Each_step_moves_the_tasks_behind_a_row_it_cannot_read_and_leaves_that_row_as_it_is(string column)
    {
        Assert.Contains(column, AppDbContext.Readable.Columns);
        var tenant = SeededTasks.NewTenant("unreadable");
        var now = DateTimeOffset.UtcNow;
        var running = Enumerable.Range(0, 2).Select(i => SeededTasks.Running(tenant, leaseEnded: now.AddMinutes(-10 + i), now)).ToList();
        var due = Enumerable.Range(0, 2).Select(i => SeededTasks.Created(tenant, now, scheduledAt: now.AddMinutes(-10 + i))).ToList();
        var stale = Enumerable.Range(0, 2).Select(i => SeededTasks.Queued(tenant, at: now.AddMinutes(-40 + i))).ToList();
        await isolated.SaveAsync([.. running.Select(r => r.Task), .. due, .. stale], running.Select(r => r.Attempt));
        await isolated.MarkWorkMessagesSentAsync(stale);

        // A value a later version might have written, on the oldest task of each step: read, it would fail the step's
        // query before any task could be named, every round.
        var unreadable = new[] { running[0].Task, due[0], stale[0] };
        foreach (var task in unreadable)
        {
            await ExecuteAsync($"""UPDATE "Tasks" SET "{column}" = 'FromALaterVersion' WHERE "Id" = @id""", task.Id);
        }

        // The scheduler first: a task the rescuer fails may be due again at once (its backoff has full jitter).
        var refused = new RefusedTasks(_refusalClock);
        Assert.Equal(1, await ScheduleAsync(refused));
        Assert.Equal(1, await RescueAsync(refused));
        Assert.Equal(1, await RequeueAsync(refused));

        Assert.Equal([AiTaskStatus.Failed, AiTaskStatus.Queued], await isolated.StatusesAsync([running[1].Task, due[1]]));
        Assert.Equal([3L], await isolated.EventSequencesAsync([stale[1]]));
        foreach (var (task, status) in unreadable.Zip((string[])["Running", "Created", "Queued"]))
        {
            Assert.Equal(status, await Sql.ScalarAsync<string>(isolated.ConnectionString, """SELECT "Status" FROM "Tasks" WHERE "Id" = @p0""", task.Id));
        }

        Assert.Equal(2L, await Sql.ScalarAsync<long>(isolated.ConnectionString, """SELECT "EventSequence" FROM "Tasks" WHERE "Id" = @p0""", stale[0].Id));
        Assert.Empty(refused.LeftOut(RescueExpiredLeasesHandler.Step));
    }

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    /// <summary>Each test starts from no task: the steps take whatever is due in the database, a poisoned task of another test included.</summary>
    public async ValueTask DisposeAsync() => await ClearAsync();

    private async Task ClearAsync()
    {
        await Sql.ExecuteAsync(isolated.ConnectionString, """DELETE FROM "OutboxMessages"; DELETE FROM "Tasks";""");
        await isolated.PurgeWorkQueueAsync();
    }

    private async Task<int> ScheduleAsync(RefusedTasks refused)
    {
        await using var db = isolated.CreateDbContext();
        return await new ScheduleDueTasksHandler(db, isolated.Outbox(db), TimeProvider.System, refused, NullLogger<ScheduleDueTasksHandler>.Instance)
            .HandleAsync(100, CancellationToken.None);
    }

    private async Task<int> RequeueAsync(RefusedTasks refused)
    {
        await using var db = isolated.CreateDbContext();
        return await new RequeueStaleTasksHandler(db, isolated.Outbox(db), new RabbitMqWorkQueue(isolated.Services), TimeProvider.System, refused, NullLogger<RequeueStaleTasksHandler>.Instance)
            .HandleAsync(new StaleQueueLimits(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(20), 100, 5_000, TimeSpan.FromMinutes(1)), CancellationToken.None);
    }

    private async Task<int> RescueAsync(RefusedTasks refused)
    {
        await using var db = isolated.CreateDbContext();
        var rescuer = new RescueExpiredLeasesHandler(
            db,
            isolated.Outbox(db),
            Options.Create(new TaskOptions()),
            TimeProvider.System,
            new TaskMetrics(isolated.Services.GetRequiredService<IMeterFactory>()),
            refused,
            NullLogger<RescueExpiredLeasesHandler>.Instance);
        return await rescuer.HandleAsync(100, CancellationToken.None);
    }

    /// <summary>
    /// Stores the task's next event as if an earlier save had written it and the task row had not kept it (the checks that
    /// refuse such a save are triggers, switched off for this session only).
    /// </summary>
    private async Task StoreEventAheadOfAsync(AiTask task) => await ExecuteAsync(
        """
        SET session_replication_role = replica;
        INSERT INTO "OutboxMessages" ("Id", "Destination", "MessageType", "PayloadJson", "Priority", "CreatedAt", "SentAt", "PublishAttempts", "TenantId", "TaskId", "EventSequence")
        SELECT gen_random_uuid(), 'task-events', 'task.stale', '{}', 0, now(), now(), 0, "TenantId", "Id", "EventSequence" + 1 FROM "Tasks" WHERE "Id" = @id;
        """,
        task.Id);

    private async Task DeleteEventAheadOfAsync(AiTask task) =>
        await ExecuteAsync("""DELETE FROM "OutboxMessages" WHERE "TaskId" = @id AND "MessageType" = 'task.stale'""", task.Id);

    private async Task ExecuteAsync(string sql, Guid id)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(isolated.ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("id", id);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }
}
