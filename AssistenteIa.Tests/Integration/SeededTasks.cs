using AssistenteIa.Application.Outbox;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;

namespace AssistenteIa.Tests.Integration;

/// <summary>Tasks written straight into an <see cref="IsolatedDatabase"/> in the state a dispatcher step takes, and read back.</summary>
public static class SeededTasks
{
    public const string Worker = "worker-x:1:abcdef";

    public static string NewTenant(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..30];

    public static AiTask Created(string tenant, DateTimeOffset now, DateTimeOffset? scheduledAt) =>
        AiTask.Create(
            Guid.CreateVersion7(), tenant, new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async),
            Priority.Normal, """{"prompt":"seeded"}""", 3, null, null, Guid.NewGuid().ToString("N"), scheduledAt, now);

    public static AiTask Queued(string tenant, DateTimeOffset at)
    {
        var task = Created(tenant, at, scheduledAt: null);
        task.Enqueue(at);
        return task;
    }

    public static (AiTask Task, TaskAttempt Attempt) Running(string tenant, DateTimeOffset leaseEnded, DateTimeOffset now)
    {
        var task = Queued(tenant, now);
        task.Reserve(Worker, leaseEnded, now);
        return (task, task.Start(now));
    }

    public static OutboxPublisher Outbox(this IsolatedDatabase isolated, AppDbContext db) => new(db, isolated.Publisher, TimeProvider.System, NullLogger<OutboxPublisher>.Instance);

    public static async Task SaveAsync(this IsolatedDatabase isolated, IEnumerable<AiTask> tasks, IEnumerable<TaskAttempt> attempts)
    {
        await using var db = isolated.CreateDbContext();
        db.Tasks.AddRange(tasks);
        db.TaskAttempts.AddRange(attempts);
        await db.SaveChangesAsync();
    }

    /// <summary>Marks the tasks' work messages published, as the outbox would have (a save here publishes nothing).</summary>
    public static async Task MarkWorkMessagesSentAsync(this IsolatedDatabase isolated, IEnumerable<AiTask> tasks) =>
        await Sql.ExecuteAsync(
            isolated.ConnectionString,
            $"""UPDATE "OutboxMessages" SET "SentAt" = now() WHERE "Destination" = 'tasks-queued' AND "SentAt" IS NULL AND "TaskId" IN ({string.Join(", ", tasks.Select(t => $"'{t.Id}'"))})""");

    public static async Task<List<AiTaskStatus>> StatusesAsync(this IsolatedDatabase isolated, IEnumerable<AiTask> tasks)
    {
        var ids = tasks.Select(t => t.Id).ToList();
        await using var db = isolated.CreateDbContext();
        var statuses = await db.Tasks.AsNoTracking().Where(t => ids.Contains(t.Id)).ToDictionaryAsync(t => t.Id, t => t.Status);
        return [.. ids.Select(id => statuses[id])];
    }

    public static async Task<List<long>> EventSequencesAsync(this IsolatedDatabase isolated, IEnumerable<AiTask> tasks)
    {
        var ids = tasks.Select(t => t.Id).ToList();
        await using var db = isolated.CreateDbContext();
        var sequences = await db.Tasks.AsNoTracking().Where(t => ids.Contains(t.Id)).ToDictionaryAsync(t => t.Id, t => t.EventSequence);
        return [.. ids.Select(id => sequences[id])];
    }
}
