using System.Data.Common;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Commands.CreateTask;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// The API's creates share a save while the writer is busy (<see cref="TaskCreationWriter"/>), on the real database:
/// the writer's first save is held by a lock on <c>Tasks</c>, so the requests made meanwhile are all waiting when it
/// takes its next save.
/// </summary>
public sealed class TaskCreationWriterTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>, IAsyncLifetime
{
    private static readonly TaskType Type = new(DomainType.DocumentProcessing, CapabilityType.LLM_Generation, ExecutionType.Async);

    private ServiceProvider _services = null!;
    private TaskCreationWriter _writer = null!;

    public ValueTask InitializeAsync()
    {
        var services = new ServiceCollection();
        services.AddMetrics();
        services.AddScoped(_ => isolated.CreateDbContext());
        services.AddScoped<IAppDbContext>(sp => sp.GetRequiredService<AppDbContext>());
        services.AddScoped(sp => new OutboxPublisher(sp.GetRequiredService<IAppDbContext>(), isolated.Publisher, TimeProvider.System, NullLogger<OutboxPublisher>.Instance));
        _services = services.BuildServiceProvider();
        _writer = WriterOf(_services, writers: 1);
        return ValueTask.CompletedTask;
    }

    private IMeterFactory Meters => _services.GetRequiredService<IMeterFactory>();

    public async ValueTask DisposeAsync()
    {
        _writer.Dispose();
        await _services.DisposeAsync();
    }

    [Fact]
    public async Task Creates_made_while_the_writer_is_busy_are_stored_in_one_transaction_each_with_its_rows_and_trace()
    {
        using var sizes = new MetricCollector<int>(Meters, TaskMetrics.MeterName, "assistenteia.tasks.creation.save_size");
        using var waits = new MetricCollector<double>(Meters, TaskMetrics.MeterName, "assistenteia.tasks.creation.wait");
        var (first, waiting, traces) = await WhileTheFirstSaveIsHeldAsync(Enumerable.Range(0, 5).Select(_ => New()).ToList());

        await first;
        var stored = await Task.WhenAll(waiting);
        Assert.Equal(1, await TransactionsOfAsync(stored));
        for (var i = 0; i < stored.Length; i++)
        {
            // Its created and queued events and its work message (published since, so marked in a later transaction),
            // each carrying the trace of the request that made the task, not of another one in the save.
            Assert.Equal("created+queued,work", await RowsOfAsync(stored[i].Id));
            Assert.Equal(traces[i], await ScalarAsync<string>("""SELECT string_agg(DISTINCT "TraceParent", ',') FROM "OutboxMessages" WHERE "TaskId" = @p0""", stored[i].Id));
        }

        // Measured: the held save of one task, then the five together; each request's wait for its save.
        Assert.Equal([1, 5], sizes.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.Equal(6, waits.GetMeasurementSnapshot().Count);
    }

    [Fact]
    public async Task A_task_the_database_refuses_in_a_shared_save_fails_alone()
    {
        // A request with a key whose task another save stored after the request's replay check: its row refuses the
        // whole save it is in.
        var taken = await _writer.StoreAsync(New("taken"), ("tenant-writer", "taken"), CancellationToken.None);
        using var splits = new MetricCollector<long>(Meters, TaskMetrics.MeterName, "assistenteia.tasks.creation.split_saves");
        var builds = new List<Func<AiTask>> { New(), New(), New("taken"), New() };
        var (first, waiting, _) = await WhileTheFirstSaveIsHeldAsync(builds, keys: [null, null, "taken", null]);
        await first;

        var outcomes = await OutcomesAsync(waiting);
        AssertUniqueViolation(outcomes[2].Error);
        foreach (var (task, _) in outcomes.Where((_, i) => i != 2))
        {
            Assert.Equal("created+queued,work", await RowsOfAsync(task!.Id));
        }

        Assert.Equal(taken.Id, await ScalarAsync<Guid>("""SELECT "Id" FROM "Tasks" WHERE "IdempotencyKey" = 'taken'"""));
        var split = Assert.Single(splits.GetMeasurementSnapshot());
        Assert.Equal("refused", split.Tags["reason"]);
    }

    [Fact]
    public async Task Two_requests_with_one_key_never_share_a_save()
    {
        // Both made while the writer was busy: the later one waits for the next save, where it is refused alone, and
        // the save it would have failed stores the others together.
        var builds = new List<Func<AiTask>> { New(), New("same-key"), New(), New("same-key"), New() };
        var (first, waiting, _) = await WhileTheFirstSaveIsHeldAsync(builds, keys: [null, "same-key", null, "same-key", null]);
        await first;

        var outcomes = await OutcomesAsync(waiting);
        AssertUniqueViolation(outcomes[3].Error);
        var stored = outcomes.Where((_, i) => i != 3).Select(o => o.Task!).ToList();
        Assert.Equal(1, await TransactionsOfAsync(stored));
        Assert.Equal(outcomes[1].Task!.Id, await ScalarAsync<Guid>("""SELECT "Id" FROM "Tasks" WHERE "IdempotencyKey" = 'same-key'"""));
    }

    [Fact]
    public async Task A_key_in_one_writers_save_holds_back_its_repeat_from_the_others_without_holding_up_their_tasks()
    {
        // Two writers. The first request's insert waits on the unique index behind a transaction holding its key, so
        // its save stays in flight; a repeat of its key arrives with another task meanwhile. The other writer must
        // store that task at once and keep the repeat back: saved beside it, the repeat waited on the index too and
        // held the task up, and once refused it failed their shared save, made again one task at a time.
        using var writer = WriterOf(_services, writers: 2);
        using var splits = new MetricCollector<long>(Meters, TaskMetrics.MeterName, "assistenteia.tasks.creation.split_saves");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var holder = isolated.CreateDbContext();
        await using var holding = await holder.Database.BeginTransactionAsync(deadline.Token);
        holder.Tasks.Add(New("held")());
        await holder.SaveChangesAsync(deadline.Token);

        var first = writer.StoreAsync(New("held"), ("tenant-writer", "held"), deadline.Token);
        await Eventually.UntilAsync(
            () => ScalarAsync<long>(
                """
                SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid)
                WHERE NOT granted AND locktype = 'transactionid' AND datname = current_database()
                """),
            waiting => waiting > 0,
            TimeSpan.FromSeconds(30),
            "the first save to wait on the held key");
        var repeat = writer.StoreAsync(New("held"), ("tenant-writer", "held"), deadline.Token);
        var other = writer.StoreAsync(New(), null, deadline.Token);

        var stored = await other.WaitAsync(TimeSpan.FromSeconds(15), deadline.Token);
        Assert.Equal("created+queued,work", await RowsOfAsync(stored.Id));
        Assert.False(first.IsCompleted);
        Assert.False(repeat.IsCompleted);

        await holding.RollbackAsync(deadline.Token);
        var kept = await first;
        AssertUniqueViolation((await OutcomesAsync([repeat]))[0].Error);
        Assert.Equal(kept.Id, await ScalarAsync<Guid>("""SELECT "Id" FROM "Tasks" WHERE "IdempotencyKey" = 'held'"""));
        Assert.Empty(splits.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task A_failed_save_whose_outcome_cannot_be_read_fails_its_request_and_the_writer_goes_on()
    {
        // The read of whether the task was stored after all fails as EF's retrying strategy fails once the database
        // is gone for longer than its retries: it used to escape the loop, which ended, and every later create waited.
        var services = new ServiceCollection();
        services.AddMetrics();
        services.AddScoped(_ => new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(isolated.ConnectionString).AddInterceptors(new UnanswerableExistsCheck()).Options));
        services.AddScoped<IAppDbContext>(sp => sp.GetRequiredService<AppDbContext>());
        services.AddScoped(sp => new OutboxPublisher(sp.GetRequiredService<IAppDbContext>(), isolated.Publisher, TimeProvider.System, NullLogger<OutboxPublisher>.Instance));
        await using var provider = services.BuildServiceProvider();
        using var writer = WriterOf(provider, writers: 1);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        await writer.StoreAsync(New("unanswerable"), ("tenant-writer", "unanswerable"), deadline.Token);
        var refused = await OutcomesAsync([writer.StoreAsync(New("unanswerable"), ("tenant-writer", "unanswerable"), deadline.Token)]);
        AssertUniqueViolation(refused[0].Error);

        var next = await writer.StoreAsync(New(), null, deadline.Token);
        Assert.Equal("created+queued,work", await RowsOfAsync(next.Id));
    }

    private sealed class UnanswerableExistsCheck : DbCommandInterceptor
    {
        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default) =>
            command.CommandText.TrimStart().StartsWith("SELECT EXISTS", StringComparison.Ordinal)
                ? throw new RetryLimitExceededException("The database did not answer within the retries.", new TimeoutException())
                : ValueTask.FromResult(result);
    }

    [Fact]
    public async Task A_request_cancelled_before_its_save_began_is_not_stored()
    {
        using var gone = new CancellationTokenSource();
        var build = New();
        Task<AiTask>? cancelled = null;
        var (first, waiting, _) = await WhileTheFirstSaveIsHeldAsync([New()], whileHeld: () =>
        {
            cancelled = _writer.StoreAsync(build, null, gone.Token);
            gone.Cancel();
        });

        await first;
        var stored = Assert.Single(await Task.WhenAll(waiting));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled!);
        Assert.Equal(0L, await ScalarAsync<long>("""SELECT count(*) FROM "Tasks" WHERE "Id" = @p0""", build().Id));
        Assert.Equal("created+queued,work", await RowsOfAsync(stored.Id));
    }

    /// <summary>
    /// Stores one task while a lock on <c>Tasks</c> holds its insert, makes the other requests once the writer waits
    /// on it, then lets it go.
    /// </summary>
    /// <returns>The first request, the others, and the trace each of the others was made in.</returns>
    private async Task<(Task<AiTask> First, List<Task<AiTask>> Waiting, List<string> Traces)> WhileTheFirstSaveIsHeldAsync(
        IReadOnlyList<Func<AiTask>> builds, IReadOnlyList<string?>? keys = null, Action? whileHeld = null)
    {
        await using var hold = await Sql.LockAsync(isolated.ConnectionString, "Tasks", "SHARE");
        var first = _writer.StoreAsync(New(), null, CancellationToken.None);
        await hold.WaitUntilWaitedOnAsync("the writer's first save to wait on the lock");

        var waiting = new List<Task<AiTask>>();
        var traces = new List<string>();
        for (var i = 0; i < builds.Count; i++)
        {
            // Each request in a trace of its own, as the API's requests are.
            using var request = new Activity("create").SetIdFormat(ActivityIdFormat.W3C).Start();
            traces.Add(request.Id!);
            waiting.Add(_writer.StoreAsync(builds[i], keys?[i] is { } key ? ("tenant-writer", key) : null, CancellationToken.None));
        }

        whileHeld?.Invoke();

        Assert.False(first.IsCompleted);
        await hold.ReleaseAsync();
        return (first, waiting, traces);
    }

    private static TaskCreationWriter WriterOf(IServiceProvider services, int writers) =>
        new(services.GetRequiredService<IServiceScopeFactory>(), NullLogger<TaskCreationWriter>.Instance, services.GetRequiredService<IMeterFactory>(), TimeProvider.System, writers);

    /// <summary>Makes the same task every time it is called, as the API's create does.</summary>
    private static Func<AiTask> New(string? idempotencyKey = null)
    {
        var id = Guid.CreateVersion7();
        var now = DateTimeOffset.UtcNow;
        return () =>
        {
            var task = AiTask.Create(id, "tenant-writer", Type, Priority.Normal, """{"prompt":"p"}""", 3, idempotencyKey, idempotencyKey is null ? null : "hash", "corr", null, now);
            task.Enqueue(now);
            return task;
        };
    }

    private static async Task<(AiTask? Task, Exception? Error)[]> OutcomesAsync(IEnumerable<Task<AiTask>> requests) =>
        await Task.WhenAll(requests.Select(async request =>
        {
            try
            {
                return ((AiTask?)await request, (Exception?)null);
            }
            catch (Exception ex)
            {
                return (null, ex);
            }
        }));

    private static void AssertUniqueViolation(Exception? error) =>
        Assert.Equal("23505", Assert.IsAssignableFrom<DbException>(Assert.IsType<DbUpdateException>(error).InnerException).SqlState);

    /// <summary>In how many transactions the tasks were stored.</summary>
    private async Task<int> TransactionsOfAsync(IEnumerable<AiTask> tasks) =>
        (await Task.WhenAll(tasks.Select(t => ScalarAsync<string>("""SELECT xmin::text FROM "Tasks" WHERE "Id" = @p0""", t.Id)))).Distinct().Count();

    /// <summary>The task's outbox rows in order, a row of several events as their names joined by "+": a create stores "created+queued,work".</summary>
    private Task<string> RowsOfAsync(Guid id) => ScalarAsync<string>(
        """
        SELECT string_agg(
            CASE WHEN "Destination" = 'tasks-queued' THEN 'work'
                 WHEN "MessageType" = 'task.events-of-one-save' THEN (SELECT string_agg(e->>'event', '+') FROM jsonb_array_elements("PayloadJson" -> 'events') AS e)
                 ELSE substr("MessageType", 6) END,
            ',' ORDER BY "EventSequence" NULLS LAST)
        FROM "OutboxMessages" WHERE "TaskId" = @p0
        """, id);

    private Task<T> ScalarAsync<T>(string sql, params object[] parameters) => Sql.ScalarAsync<T>(isolated.ConnectionString, sql, parameters);
}
