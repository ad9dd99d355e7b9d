using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// The outbox rows a save wrote are handed out for publishing (<c>IAppDbContext.TakeSavedOutboxMessages</c>) only once
/// they are stored: EF calls a row saved inside a transaction Unchanged as soon as the save returns, and a rollback does
/// not change that, so a row of a transaction that never committed would have gone to the broker.
/// </summary>
public sealed class OutboxHandOutTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    [Fact]
    public async Task Rows_saved_in_a_transaction_wait_for_its_commit_and_are_dropped_with_its_rollback()
    {
        await using var db = isolated.CreateDbContext();
        var rolledBack = QueuedTask();
        await using (var transaction = await db.BeginTransactionAsync(CancellationToken.None))
        {
            db.Tasks.Add(rolledBack);
            await db.SaveChangesAsync();
            Assert.Empty(db.TakeSavedOutboxMessages());
        }

        Assert.Empty(db.TakeSavedOutboxMessages());
        Assert.False(await db.Tasks.AnyAsync(t => t.Id == rolledBack.Id));

        var committed = QueuedTask();
        await using (var transaction = await db.BeginTransactionAsync(CancellationToken.None))
        {
            db.Tasks.Add(committed);
            await db.SaveChangesAsync();
            Assert.Empty(db.TakeSavedOutboxMessages());
            await transaction.CommitAsync();
        }

        var handedOut = Assert.Single(db.TakeSavedOutboxMessages());
        Assert.Equal("tasks-queued", handedOut.Destination);
        Assert.Equal(committed.Id, handedOut.TaskId);
        Assert.Empty(db.TakeSavedOutboxMessages());
    }

    [Fact]
    public async Task Rows_saved_without_a_transaction_of_the_callers_are_handed_out_as_soon_as_saved()
    {
        await using var db = isolated.CreateDbContext();
        var task = QueuedTask();
        db.Tasks.Add(task);
        await db.SaveChangesAsync();
        Assert.Equal(["tasks-queued"], db.TakeSavedOutboxMessages().Select(m => m.Destination));
    }

    /// <summary>Created and queued: with no event listener registered, its events are stored already sent and only the work message is handed out.</summary>
    private static AiTask QueuedTask()
    {
        var now = DateTimeOffset.UtcNow;
        var task = AiTask.Create(
            Guid.CreateVersion7(), "tenant-hand-out", new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async),
            Priority.Normal, """{"prompt":"hand out"}""", 3, null, null, Guid.NewGuid().ToString("N"), null, now);
        task.Enqueue(now);
        return task;
    }
}
