using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// Task events are published only while a listener is registered (<see cref="TaskEventDemand"/>): the database decides
/// as it inserts each outbox row of task events, and a registration waits for every transaction that may have decided without it.
/// </summary>
public sealed class TaskEventDemandTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>, IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    public ValueTask InitializeAsync() => new(ClearListenersAsync());

    public ValueTask DisposeAsync() => new(ClearListenersAsync());

    [Fact]
    public async Task With_no_listener_a_task_event_is_stored_already_sent_and_not_handed_out_for_publishing()
    {
        await using var db = isolated.CreateDbContext();
        var task = NewTask();
        db.Tasks.Add(task);
        await db.SaveChangesAsync();

        // Only the work message is left to publish; the events stay as the history the streams replay.
        var toPublish = db.TakeSavedOutboxMessages();
        Assert.Equal(["tasks-queued"], toPublish.Select(m => m.Destination));
        var events = Assert.Single(await EventsOfAsync(task.Id));
        Assert.Equal(["task.created", "task.queued"], TaskEventRows.Events(events).Select(e => e.Type));
        Assert.Equal(events.CreatedAt, events.SentAt);
        Assert.Equal(0, events.PublishAttempts);
    }

    [Fact]
    public async Task With_a_live_listener_task_events_are_left_to_publish_and_a_lapsed_one_counts_for_nothing()
    {
        await using var db = isolated.CreateDbContext();
        await TaskEventDemand.RegisterAsync(db, "live", TimeSpan.FromMinutes(1), CancellationToken.None);
        var heard = NewTask();
        db.Tasks.Add(heard);
        await db.SaveChangesAsync();
        Assert.Equal(["task-events", "tasks-queued"], db.TakeSavedOutboxMessages().Select(m => m.Destination).Order());
        Assert.All(await EventsOfAsync(heard.Id), e => Assert.Null(e.SentAt));

        await db.Database.ExecuteSqlAsync($"""UPDATE "EventListeners" SET "Until" = now() - interval '1 second'""");
        var unheard = NewTask();
        db.Tasks.Add(unheard);
        await db.SaveChangesAsync();
        Assert.Equal(["tasks-queued"], db.TakeSavedOutboxMessages().Select(m => m.Destination));

        // A lapsed lease is not renewed: the listener registers again (and catches up on what it missed).
        Assert.False(await TaskEventDemand.RenewAsync(db, "live", TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.True(await TaskEventDemand.EnsureAsync(db, "live", TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.False(await TaskEventDemand.EnsureAsync(db, "live", TimeSpan.FromMinutes(1), CancellationToken.None));
    }

    [Fact]
    public async Task A_registration_waits_for_the_writers_that_decided_without_it()
    {
        // A writer's transaction has stored an event while nobody listened, and has not committed.
        await using var writer = await OpenAsync();
        await using var transaction = await writer.BeginTransactionAsync();
        var unheard = await InsertEventAsync(writer, transaction);

        await using var db = RegistrationContext();
        await TaskEventDemand.RegisterAsync(db, "late", lease: null, CancellationToken.None);
        await WaitsUntilCommittedAsync(db, transaction, unheard);

        // Registered: what is written from now on is published.
        await using var next = await writer.BeginTransactionAsync();
        var heard = await InsertEventAsync(writer, next);
        await next.CommitAsync();
        Assert.Null(await SentAtOfAsync(heard));
    }

    /// <summary>
    /// The writer got its id after the registration's and read before the registration committed: a snapshot taken right
    /// after that commit would leave the writer out (its id is above every finished one), and the wait would not wait.
    /// </summary>
    [Fact]
    public async Task A_registration_waits_for_a_writer_whose_id_is_newer_than_its_own()
    {
        await using var registration = await OpenAsync();
        await using var registering = await registration.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand("""INSERT INTO "EventListeners" VALUES ('newer', 'infinity', now())""", registration, registering))
        {
            await insert.ExecuteNonQueryAsync();
        }

        await using var writer = await OpenAsync();
        await using var transaction = await writer.BeginTransactionAsync();
        var unheard = await InsertEventAsync(writer, transaction);
        await registering.CommitAsync();

        await using var db = RegistrationContext();
        await WaitsUntilCommittedAsync(db, transaction, unheard);
    }

    /// <summary>
    /// The registration's wait lasts while the writer's transaction runs and ends with its commit; the writer's event,
    /// decided before the registration counted, was stored already sent.
    /// </summary>
    private async Task WaitsUntilCommittedAsync(AppDbContext db, NpgsqlTransaction writer, Guid unheard)
    {
        var waiting = TaskEventDemand.WaitForUndecidedAsync(db, CancellationToken.None);
        await UntilPolledAsync();
        Assert.False(waiting.IsCompleted);

        await writer.CommitAsync();
        Assert.True(await waiting.WaitAsync(Deadline));
        Assert.Equal(await SentAtOfAsync(unheard), await CreatedAtOfAsync(unheard));
    }

    [Fact]
    public async Task An_instance_whose_wait_failed_waits_and_catches_up_again_at_its_next_renewal()
    {
        await using var services = new ServiceCollection().AddDbContext<AppDbContext>(o => o.UseNpgsql(RegistrationConnectionString)).BuildServiceProvider();
        var lease = new TaskEventListenerLease(services.GetRequiredService<IServiceScopeFactory>(), "instance", TimeSpan.FromMinutes(1));

        await using var writer = await OpenAsync();
        await using var transaction = await writer.BeginTransactionAsync();
        await InsertEventAsync(writer, transaction);
        using var stop = new CancellationTokenSource();
        var ensuring = lease.EnsureAsync(stop.Token);
        await UntilPolledAsync();
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ensuring);

        // Registered, not settled: the row is live, yet the next call waits again and asks for a catch-up.
        await transaction.CommitAsync();
        Assert.True(await lease.EnsureAsync(CancellationToken.None));
        Assert.False(await lease.EnsureAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_lease_with_less_than_a_quarter_left_is_not_renewed_but_registered_again()
    {
        await using var db = isolated.CreateDbContext();
        await TaskEventDemand.RegisterAsync(db, "ending", TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.False(await TaskEventDemand.RenewAsync(db, "ending", TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.True(await TaskEventDemand.RenewAsync(db, "ending", TimeSpan.FromSeconds(10), CancellationToken.None));
    }

    [Fact]
    public async Task A_writer_in_a_stricter_isolation_level_does_not_decide_and_publishes()
    {
        // Its snapshot could predate a registration: reading the listeners would not be enough.
        await using var writer = await OpenAsync();
        await using var transaction = await writer.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        var id = await InsertEventAsync(writer, transaction);
        await transaction.CommitAsync();
        Assert.Null(await SentAtOfAsync(id));
    }

    private async Task<List<OutboxMessage>> EventsOfAsync(Guid taskId)
    {
        await using var db = isolated.CreateDbContext();
        return await db.OutboxMessages.AsNoTracking().Where(m => m.TaskId == taskId && m.Destination == "task-events").OrderBy(m => m.EventSequence).ToListAsync();
    }

    /// <summary>Created and queued, as the API's create saves it: two events and the work message.</summary>
    private static AiTask NewTask()
    {
        var now = DateTimeOffset.UtcNow;
        var task = AiTask.Create(
            Guid.CreateVersion7(), "tenant-demand", new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async),
            Priority.Normal, """{"prompt":"demand"}""", 3, null, null, Guid.NewGuid().ToString("N"), null, now);
        task.Enqueue(now);
        return task;
    }

    private async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(isolated.ConnectionString) { Pooling = false, ApplicationName = "demand-test-writer" }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>One task-event row as any writer inserts it (the trigger decides its SentAt).</summary>
    private static async Task<Guid> InsertEventAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        var id = Guid.CreateVersion7();
        await using var command = new NpgsqlCommand(
            """
            INSERT INTO "OutboxMessages" ("Id", "Destination", "MessageType", "PayloadJson", "Priority", "CreatedAt", "PublishAttempts")
            VALUES (@id, 'task-events', 'task.created', '{}', 0, now(), 0)
            """,
            connection,
            transaction);
        command.Parameters.AddWithValue("id", id);
        await command.ExecuteNonQueryAsync();
        return id;
    }

    private string RegistrationConnectionString =>
        new NpgsqlConnectionStringBuilder(isolated.ConnectionString) { ApplicationName = "demand-test-registration" }.ConnectionString;

    private AppDbContext RegistrationContext() => new(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(RegistrationConnectionString).Options);

    /// <summary>Until the registering side has asked at least once whether the writers it waits for ended (it goes on asking while they run).</summary>
    private Task UntilPolledAsync() => Eventually.UntilAsync(
        () => Sql.ScalarAsync<long>(
            isolated.ConnectionString,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'demand-test-registration' AND position('pg_snapshot_xip' in query) > 0"),
        polls => polls == 1,
        Deadline,
        "the registration to wait for the writer");

    private Task<DateTimeOffset?> SentAtOfAsync(Guid id) => ColumnAsync(id, "SentAt");

    private Task<DateTimeOffset?> CreatedAtOfAsync(Guid id) => ColumnAsync(id, "CreatedAt");

    private async Task<DateTimeOffset?> ColumnAsync(Guid id, string column)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand($"""SELECT "{column}" FROM "OutboxMessages" WHERE "Id" = @id""", connection);
        command.Parameters.AddWithValue("id", id);
        return await command.ExecuteScalarAsync() is DateTime value ? new DateTimeOffset(value, TimeSpan.Zero) : null;
    }

    private Task ClearListenersAsync() => Sql.ExecuteAsync(isolated.ConnectionString, """DELETE FROM "EventListeners" """);
}
