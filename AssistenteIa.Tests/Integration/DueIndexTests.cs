using AssistenteIa.Application.Dispatching;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// <c>IX_Tasks_Due</c> holds only Created, Queued and Failed tasks, so a claimed or finished task costs it nothing; the
/// dispatcher's two queries that look for due and stale tasks must still be able to use it, or they would read the
/// whole table once it is large. Sequential scans are switched off for these connections so the planner's choice
/// does not depend on how many rows the test wrote: what is checked is that the index can serve each query as the
/// application sends it (its own SQL and parameters, captured on the way to the database).
/// </summary>
public sealed class DueIndexTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    private const string DueIndex = "IX_Tasks_Due";

    [Fact]
    public async Task The_scheduler_finds_due_created_and_failed_tasks_through_the_due_index()
    {
        var now = DateTimeOffset.UtcNow;
        var tenant = $"due-{Guid.NewGuid():N}";
        var due = NewTask(tenant, now, scheduledAt: now.AddMinutes(-1));
        var later = NewTask(tenant, now, scheduledAt: now.AddHours(1));
        var finished = NewTask(tenant, now, scheduledAt: null);
        finished.Enqueue(now);
        finished.Reserve("worker-x:1:abcdef", now.AddSeconds(30), now);
        var attempt = finished.Start(now);
        finished.Succeed(now);
        await using (var db = isolated.CreateDbContext())
        {
            db.Tasks.AddRange(due, later, finished);
            db.TaskAttempts.Add(attempt);
            await db.SaveChangesAsync();
        }

        var plans = new PlanRecorder(ReadsTasks);
        await using (var db = RecordingContext(plans))
        {
            var scheduler = new ScheduleDueTasksHandler(
                db, new OutboxPublisher(db, isolated.Publisher, TimeProvider.System, NullLogger<OutboxPublisher>.Instance), TimeProvider.System, new RefusedTasks(TimeProvider.System),
                NullLogger<ScheduleDueTasksHandler>.Instance);
            await scheduler.HandleAsync(1_000, CancellationToken.None);
        }

        var plan = Assert.Single(plans.Plans);
        Assert.Contains(DueIndex, plan);
        await using var check = isolated.CreateDbContext();
        var statuses = await check.Tasks.AsNoTracking().Where(t => t.TenantId == tenant).ToDictionaryAsync(t => t.Id, t => t.Status);
        Assert.Equal(AiTaskStatus.Queued, statuses[due.Id]);
        Assert.Equal(AiTaskStatus.Created, statuses[later.Id]);
        Assert.Equal(AiTaskStatus.Succeeded, statuses[finished.Id]);
    }

    [Fact]
    public async Task The_stale_queue_requeuer_locks_queued_tasks_through_the_due_index()
    {
        var now = DateTimeOffset.UtcNow;
        var stale = NewTask($"due-{Guid.NewGuid():N}", now.AddMinutes(-10), scheduledAt: null);
        stale.Enqueue(now.AddMinutes(-10));
        await using (var db = isolated.CreateDbContext())
        {
            db.Tasks.Add(stale);
            await db.SaveChangesAsync();
        }

        // Its message went out (the requeuer leaves a task whose message is still unsent to the relay).
        await isolated.MarkWorkMessagesSentAsync([stale]);

        var plans = new PlanRecorder(ReadsTasks);
        await using var recording = RecordingContext(plans);
        await using var transaction = await recording.Database.BeginTransactionAsync();
        var locked = await recording.LockStaleQueuedAsync(now.AddMinutes(-5), 1_000, [], CancellationToken.None);

        Assert.Contains(locked, t => t.Id == stale.Id);
        var plan = Assert.Single(plans.Plans);
        Assert.Contains(DueIndex, plan);

        // Whether a task's work message is still unsent is looked up by its id, not by reading every unsent row (a broker
        // outage leaves many).
        Assert.Contains(AppDbContext.UnsentWorkIndex, plan);
    }

    private static AiTask NewTask(string tenant, DateTimeOffset now, DateTimeOffset? scheduledAt) =>
        AiTask.Create(
            Guid.CreateVersion7(), tenant, new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async),
            Priority.Normal, """{"prompt":"due"}""", 3, null, null, Guid.NewGuid().ToString("N"), scheduledAt, now);

    /// <summary>The queries that read <c>Tasks</c>.</summary>
    private static bool ReadsTasks(string sql) =>
        sql.TrimStart().StartsWith("SELECT", StringComparison.OrdinalIgnoreCase) && sql.Contains("FROM \"Tasks\"", StringComparison.Ordinal);

    private AppDbContext RecordingContext(PlanRecorder plans)
    {
        var connectionString = new NpgsqlConnectionStringBuilder(isolated.ConnectionString) { Options = "-c enable_seqscan=off" }.ConnectionString;
        return new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(connectionString).AddInterceptors(plans).Options);
    }
}
