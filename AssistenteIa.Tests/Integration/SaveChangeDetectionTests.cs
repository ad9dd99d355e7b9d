using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// A save compares the tracked entities with their snapshots once: staging the task events needs the changes detected,
/// and the entries read after it and EF's own save reuse that pass (three passes before, on every create, claim and
/// outcome). What the domain changed through plain setters is still written.
/// </summary>
public sealed class SaveChangeDetectionTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    [Fact]
    public async Task A_save_detects_the_changes_once_and_still_writes_what_the_domain_changed()
    {
        await using var db = isolated.CreateDbContext();
        var passes = 0;
        db.ChangeTracker.DetectingAllChanges += (_, _) => passes++;
        var now = DateTimeOffset.UtcNow;
        var task = SeededTasks.Queued(SeededTasks.NewTenant("detect"), now);

        db.Tasks.Add(task);
        await db.SaveInOneRoundTripAsync(CancellationToken.None);
        Assert.Equal(1, passes);

        // The claim: the domain changes the task's properties itself and adds its attempt.
        task.Reserve(SeededTasks.Worker, now.AddMinutes(1), now);
        db.TaskAttempts.Add(task.Start(now));
        await db.SaveInOneRoundTripAsync(CancellationToken.None);
        Assert.Equal(2, passes);

        task.RequestCancel(now);
        await db.SaveChangesAsync();
        Assert.Equal(3, passes);

        await using var read = isolated.CreateDbContext();
        var stored = await read.Tasks.AsNoTracking().SingleAsync(t => t.Id == task.Id);
        Assert.Equal(AiTaskStatus.Running, stored.Status);
        Assert.True(stored.CancelRequested);
        Assert.Equal(SeededTasks.Worker, stored.LockedBy);
        Assert.Equal(1, await read.TaskAttempts.CountAsync(a => a.TaskId == task.Id));
        Assert.Equal(5L, stored.EventSequence);
    }
}
