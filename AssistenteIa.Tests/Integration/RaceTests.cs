using System.Diagnostics.Metrics;
using AssistenteIa.Application;
using AssistenteIa.Application.Dispatching;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Persistence;
using AssistenteIaApi.ServiceC.Worker.Dispatching;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using RabbitMQ.Client;

namespace AssistenteIa.Tests.Integration;

/// <summary>The dispatcher's steps racing the workers and a blocked broker, on a database nothing else touches.</summary>
public sealed class RaceTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    private const string Worker = "worker-x:1:abcdef";

    [Fact]
    public async Task A_rescue_racing_a_live_heartbeat_never_lets_both_win()
    {
        for (var round = 0; round < 5; round++)
        {
            var ids = await InsertRunningTasksAsync(count: 30, leaseEnded: true);
            await using var rescuerDb = isolated.CreateDbContext();
            await using var heartbeatDb = isolated.CreateDbContext();
            var rescuer = new RescueExpiredLeasesHandler(
                rescuerDb,
                new OutboxPublisher(rescuerDb, isolated.Publisher, TimeProvider.System, NullLogger<OutboxPublisher>.Instance),
                Options.Create(new TaskOptions()),
                TimeProvider.System,
                new TaskMetrics(isolated.Services.GetRequiredService<IMeterFactory>()),
                new RefusedTasks(TimeProvider.System),
                NullLogger<RescueExpiredLeasesHandler>.Instance);

            // Both connections are open before the gate opens, so the two statements really overlap.
            await rescuerDb.Database.OpenConnectionAsync();
            await heartbeatDb.Database.OpenConnectionAsync();
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var rescue = Task.Run(async () => { await gate.Task; return await rescuer.HandleAsync(100, CancellationToken.None); });
            var renew = Task.Run(async () =>
            {
                await gate.Task;
                return await heartbeatDb.RenewLeasesAsync(Worker, ids.Select(id => new AttemptLease(id, 1)).ToList(), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), CancellationToken.None);
            });
            gate.SetResult();
            await Task.WhenAll(rescue, renew);

            var renewed = (await renew).Select(r => r.TaskId).ToHashSet();
            await using var db = isolated.CreateDbContext();
            var rows = await db.Tasks.AsNoTracking().Where(t => ids.Contains(t.Id)).ToListAsync();
            var attempts = await db.TaskAttempts.AsNoTracking().Where(a => ids.Contains(a.TaskId)).ToListAsync();
            foreach (var task in rows)
            {
                var attempt = attempts.Single(a => a.TaskId == task.Id);
                if (renewed.Contains(task.Id))
                {
                    // The heartbeat won: the worker keeps running it, untouched by the rescuer.
                    Assert.Equal(AiTaskStatus.Running, task.Status);
                    Assert.Equal(Worker, task.LockedBy);
                    Assert.Equal(AttemptStatus.Running, attempt.Status);
                }
                else
                {
                    // The rescuer won: the worker's heartbeat did not renew it, so it learns its lease is lost.
                    Assert.Equal(AiTaskStatus.Failed, task.Status);
                    Assert.Null(task.LockedBy);
                    Assert.Equal(TaskAttempt.LeaseExpiredCode, attempt.ErrorCode);
                }
            }
        }
    }

    [Fact]
    public async Task A_lease_renewal_does_not_change_the_row_version_so_the_workers_final_save_does_not_conflict()
    {
        var id = (await InsertRunningTasksAsync(count: 1, leaseEnded: false)).Single();
        await using var worker = isolated.CreateDbContext();
        var task = await worker.Tasks.SingleAsync(t => t.Id == id);
        var attempt = await worker.TaskAttempts.SingleAsync(a => a.TaskId == id);

        await using (var heartbeat = isolated.CreateDbContext())
        {
            Assert.Single(await heartbeat.RenewLeasesAsync(Worker, [new AttemptLease(id, 1)], TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), CancellationToken.None));
        }

        attempt.Close(AttemptStatus.Succeeded, AttemptUsage.None, DateTimeOffset.UtcNow);
        task.Succeed(DateTimeOffset.UtcNow);
        await worker.SaveChangesAsync();
        Assert.Equal("Succeeded", await ScalarAsync<string>("""SELECT "Status" FROM "Tasks" WHERE "Id" = @p0""", id));
    }

    [Fact]
    public async Task A_lease_renewal_records_no_event_and_writes_no_outbox_row()
    {
        var id = (await InsertRunningTasksAsync(count: 1, leaseEnded: false)).Single();
        var before = await ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" """);
        var sequence = await ScalarAsync<long>("""SELECT "EventSequence" FROM "Tasks" WHERE "Id" = @p0""", id);

        await using (var db = isolated.CreateDbContext())
        {
            Assert.Single(await db.RenewLeasesAsync(Worker, [new AttemptLease(id, 1)], TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), CancellationToken.None));
            await db.SaveChangesAsync();
        }

        Assert.Equal(before, await ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" """));
        Assert.Equal(sequence, await ScalarAsync<long>("""SELECT "EventSequence" FROM "Tasks" WHERE "Id" = @p0""", id));
        Assert.Equal(4L, sequence);
    }

    [Fact]
    public async Task A_lease_renewal_is_a_HOT_update_that_writes_no_index()
    {
        var id = (await InsertRunningTasksAsync(count: 1, leaseEnded: false)).Single();
        await using var db = isolated.CreateDbContext();
        await using var transaction = await db.Database.BeginTransactionAsync();

        // Counters of this backend not yet flushed to the statistics: compare before and after the renewal.
        var (updatedBefore, hotBefore) = await UpdateCountersAsync(db);
        Assert.Single(await db.RenewLeasesAsync(Worker, [new AttemptLease(id, 1)], TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), CancellationToken.None));
        var (updatedAfter, hotAfter) = await UpdateCountersAsync(db);

        Assert.Equal(1, updatedAfter - updatedBefore);
        Assert.Equal(1, hotAfter - hotBefore);
        await transaction.RollbackAsync();
    }

    [Fact]
    public async Task One_tasks_rows_published_without_waiting_in_between_reach_the_queue_in_order()
    {
        var queue = $"order-{Guid.NewGuid():N}";
        var connection = isolated.Services.GetRequiredService<IConnection>();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
        var taskId = Guid.NewGuid();
        var rows = Enumerable.Range(0, 300)
            .Select(i => OutboxMessage.Create(queue, "Test", $$"""{"n":{{i}}}""", null, null, 0, DateTimeOffset.UtcNow, "tenant-x", taskId, i + 1))
            .ToList();

        var results = await isolated.Publisher.PublishInOrderAsync(rows, CancellationToken.None);

        Assert.All(results, Assert.Null);
        var received = new List<string>();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
        {
            received.Add(message.BasicProperties.MessageId!);
        }

        Assert.Equal(rows.Select(r => r.Id.ToString()), received);
        await channel.QueueDeleteAsync(queue);
    }

    [Fact]
    public async Task A_blocked_broker_costs_the_relay_one_timeout_for_the_whole_batch_without_holding_row_locks()
    {
        var destination = $"blocked-{Guid.NewGuid():N}";
        var ids = new List<Guid>();
        await using (var db = isolated.CreateDbContext())
        {
            // Only this test's rows are unsent, so they are the batch the relay takes.
            await db.OutboxMessages.Where(m => m.SentAt == null).ExecuteDeleteAsync();
            var old = DateTimeOffset.UtcNow.AddMinutes(-1);
            var rows = Enumerable.Range(0, 12).Select(i => OutboxMessage.Create(destination, "Test", $$"""{"n":{{i}}}""", null, null, 0, old.AddMilliseconds(i))).ToList();
            db.OutboxMessages.AddRange(rows);
            await db.SaveChangesAsync();
            ids.AddRange(rows.Select(r => r.Id));
        }

        // A memory alarm makes RabbitMQ block every publishing connection: confirms never come.
        await Broker.RabbitCtlAsync("set_vm_memory_high_watermark 0");
        int sent;
        try
        {
            await using var relayDb = isolated.CreateDbContext();
            var relay = new OutboxRelay(relayDb, new OutboxPublisher(relayDb, isolated.Publisher, TimeProvider.System, NullLogger<OutboxPublisher>.Instance), NullLogger<OutboxRelay>.Instance);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var relaying = relay.RelayAsync(batchSize: ids.Count, CancellationToken.None);

            await Eventually.UntilAsync(
                () => ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "Id" = ANY(@p0) AND "ClaimedUntil" IS NOT NULL""", ids.ToArray()),
                n => n == ids.Count, TimeSpan.FromSeconds(10), "the relay to claim the batch");

            // While the relay waits on the broker, nobody waits on the relay.
            Assert.False(relaying.IsCompleted);
            Assert.Equal(ids.Count, await LockNowaitAsync(ids));
            sent = await relaying;

            // One deadline for the batch, not one per row (12 rows waiting out their own would take 36 s).
            Assert.True(clock.Elapsed < OutboxPublisher.PublishTimeout * 3, $"the relay took {clock.Elapsed} for one batch");
        }
        finally
        {
            await Broker.RabbitCtlAsync("set_vm_memory_high_watermark 0.4");
        }

        Assert.Equal(0, sent);
        await using var check = isolated.CreateDbContext();
        var after = await check.OutboxMessages.AsNoTracking().Where(m => ids.Contains(m.Id)).OrderBy(m => m.CreatedAt).ToListAsync();
        Assert.All(after, m => Assert.Null(m.SentAt));
        Assert.All(after, m => Assert.Null(m.ClaimedUntil));
        // The batch goes out on one channel and waits out one timeout together: every row tried once, none confirmed.
        Assert.All(after, m => Assert.Equal((1, true), (m.PublishAttempts, m.LastError is not null)));
    }

    [Fact]
    public async Task The_outbox_purge_deletes_only_rows_sent_before_the_retention()
    {
        var now = DateTimeOffset.UtcNow;
        var destination = $"purge-{Guid.NewGuid():N}";
        OutboxMessage Row(int ageDays, bool sent)
        {
            var row = OutboxMessage.Create(destination, "Test", "{}", null, null, 0, now.AddDays(-ageDays));
            if (sent)
            {
                row.MarkSent(now.AddDays(-ageDays));
            }

            return row;
        }

        var oldSent = Row(8, sent: true);
        var recentSent = Row(1, sent: true);
        var oldUnsent = Row(8, sent: false);
        await using (var db = isolated.CreateDbContext())
        {
            db.OutboxMessages.AddRange(oldSent, recentSent, oldUnsent);
            await db.SaveChangesAsync();
        }

        await using (var db = isolated.CreateDbContext())
        {
            var purge = new PurgeSentOutboxHandler(db, TimeProvider.System, NullLogger<PurgeSentOutboxHandler>.Instance);
            Assert.True(await purge.HandleAsync(TimeSpan.FromDays(7), CancellationToken.None) >= 1);
        }

        await using var check = isolated.CreateDbContext();
        var left = await check.OutboxMessages.AsNoTracking().Where(m => m.Destination == destination).Select(m => m.Id).ToListAsync();
        Assert.Equal(new[] { recentSent.Id, oldUnsent.Id }.Order(), left.Order());
        await check.OutboxMessages.Where(m => m.Destination == destination).ExecuteDeleteAsync();
    }

    /// <summary>
    /// The purge goes by the database's clock, not by the clock of the process that runs it (a ServiceC whose clock runs
    /// days ahead would delete recent rows), and keeps a row written before the cutoff but sent after it.
    /// </summary>
    [Fact]
    public async Task The_outbox_purge_goes_by_the_database_clock_and_keeps_a_row_sent_after_the_cutoff()
    {
        var now = DateTimeOffset.UtcNow;
        var destination = $"purge-{Guid.NewGuid():N}";
        OutboxMessage Row(int writtenDaysAgo, int sentDaysAgo)
        {
            var row = OutboxMessage.Create(destination, "Test", "{}", null, null, 0, now.AddDays(-writtenDaysAgo));
            row.MarkSent(now.AddDays(-sentDaysAgo));
            return row;
        }

        var old = Row(9, 9);
        var sentLate = Row(8, 6);
        var recent = Row(1, 1);
        await using (var db = isolated.CreateDbContext())
        {
            db.OutboxMessages.AddRange(old, sentLate, recent);
            await db.SaveChangesAsync();
        }

        await using (var db = isolated.CreateDbContext())
        {
            var clockAhead = new FakeTimeProvider(now.AddDays(30));
            var purge = new PurgeSentOutboxHandler(db, clockAhead, NullLogger<PurgeSentOutboxHandler>.Instance);
            Assert.True(await purge.HandleAsync(TimeSpan.FromDays(7), CancellationToken.None) >= 1);
        }

        await using var check = isolated.CreateDbContext();
        var left = await check.OutboxMessages.AsNoTracking().Where(m => m.Destination == destination).Select(m => m.Id).ToListAsync();
        Assert.Equal(new[] { sentLate.Id, recent.Id }.Order(), left.Order());
        await check.OutboxMessages.Where(m => m.Destination == destination).ExecuteDeleteAsync();
    }

    /// <summary>
    /// On a table of some size, the purge reads the primary key from its start up to the cutoff only (a bound joined in
    /// became a filter over every row, read on every run once the backlog was gone) and deletes its batch by id (not by
    /// reading the whole table to match the batch).
    /// </summary>
    [Fact]
    public async Task The_outbox_purge_walks_the_primary_key_up_to_the_cutoff_and_deletes_by_id()
    {
        var destination = $"purge-{Guid.NewGuid():N}";

        // 50,000 rows sent a day ago (kept), then 100 sent ten days ago (purged), with version 7 ids of when they were written.
        await Sql.ExecuteAsync(isolated.ConnectionString, $$"""
            INSERT INTO "OutboxMessages" ("Id", "Destination", "MessageType", "PayloadJson", "Priority", "CreatedAt", "SentAt", "PublishAttempts")
            SELECT (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7' || substr(md5(g::text), 1, 19))::uuid,
                   '{{destination}}', 'Test', '{}', 0, at, at, 1
            FROM (SELECT g, now() - CASE WHEN g <= 100 THEN interval '10 days' ELSE interval '1 day' END + g * interval '1 millisecond' AS at
                  FROM generate_series(1, 50100) AS g) AS rows;
            ANALYZE "OutboxMessages";
            """);

        var plans = new PlanRecorder(sql => sql.Contains("DELETE FROM \"OutboxMessages\"", StringComparison.Ordinal));
        await using (var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(isolated.ConnectionString).AddInterceptors(plans).Options))
        {
            var purge = new PurgeSentOutboxHandler(db, TimeProvider.System, NullLogger<PurgeSentOutboxHandler>.Instance);
            Assert.True(await purge.HandleAsync(TimeSpan.FromDays(7), CancellationToken.None) >= 100);
        }

        var plan = plans.Plans[0];
        Assert.Contains("""Index Scan using "PK_OutboxMessages" on "OutboxMessages" o""", plan);
        Assert.Matches("""Index Cond: \("Id" < \$\d+\)""", plan);
        Assert.Contains("""Index Cond: ("Id" = ANY""", plan);
        Assert.DoesNotContain("Join Filter", plan);
        Assert.DoesNotContain("Seq Scan", plan);
        Assert.Equal(50_000L, await ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "Destination" = @p0""", destination));
        await Sql.ExecuteAsync(isolated.ConnectionString, $"""DELETE FROM "OutboxMessages" WHERE "Destination" = '{destination}'""");
    }

    private static async Task<(long Updated, long Hot)> UpdateCountersAsync(AppDbContext db)
    {
        var updated = await db.Database.SqlQuery<long>($"""SELECT pg_stat_get_xact_tuples_updated('"Tasks"'::regclass) AS "Value" """).SingleAsync();
        var hot = await db.Database.SqlQuery<long>($"""SELECT pg_stat_get_xact_tuples_hot_updated('"Tasks"'::regclass) AS "Value" """).SingleAsync();
        return (updated, hot);
    }

    private async Task<List<Guid>> InsertRunningTasksAsync(int count, bool leaseEnded)
    {
        var now = DateTimeOffset.UtcNow;
        await using var db = isolated.CreateDbContext();
        var ids = new List<Guid>();
        for (var i = 0; i < count; i++)
        {
            var task = AiTask.Create(
                Guid.CreateVersion7(), "tenant-a", new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async),
                Priority.Normal, """{"prompt":"race"}""", 3, null, null, Guid.NewGuid().ToString("N"), null, now);
            task.Enqueue(now);
            task.Reserve(Worker, leaseEnded ? now.AddSeconds(-1) : now.AddSeconds(30), now);
            db.TaskAttempts.Add(task.Start(now));
            db.Tasks.Add(task);
            ids.Add(task.Id);
        }

        await db.SaveChangesAsync();
        return ids;
    }

    /// <summary>Locks the rows from another connection without waiting; a row held by someone else would fail with 55P03.</summary>
    private async Task<int> LockNowaitAsync(List<Guid> ids)
    {
        await using var connection = new NpgsqlConnection(isolated.ConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand("""SELECT count(*) FROM (SELECT 1 FROM "OutboxMessages" WHERE "Id" = ANY(@p0) FOR UPDATE NOWAIT) locked""", connection, transaction);
        command.Parameters.AddWithValue("p0", ids.ToArray());
        var locked = (int)(long)(await command.ExecuteScalarAsync())!;
        await transaction.RollbackAsync();
        return locked;
    }

    private Task<T> ScalarAsync<T>(string sql, params object[] parameters) => Sql.ScalarAsync<T>(isolated.ConnectionString, sql, parameters);
}
