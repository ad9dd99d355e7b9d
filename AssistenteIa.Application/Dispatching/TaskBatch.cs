using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;

namespace AssistenteIa.Application.Dispatching;

/// <summary>One batch of a dispatcher step: the tasks it takes, moved and committed together, then their rows published.</summary>
internal static class TaskBatch
{
    /// <summary>
    /// In one transaction: takes the tasks (<paramref name="take"/>, which may lock them), moves them
    /// (<paramref name="move"/>), saves and commits; then publishes what the save wrote. A batch refused for its data
    /// (<see cref="RefusedTasks.IsRefusal"/>) is rolled back and reported as <see cref="RefusedBatchException"/>, its
    /// tracked state forgotten. Returns how many tasks were moved.
    /// </summary>
    public static async Task<int> MoveAsync(
        IAppDbContext db, OutboxPublisher outbox, Func<Task<List<AiTask>>> take, Func<List<AiTask>, Task> move, CancellationToken cancellationToken)
    {
        List<AiTask> tasks;
        await using (var transaction = await db.BeginTransactionAsync(cancellationToken))
        {
            tasks = await take();
            if (tasks.Count == 0)
            {
                return 0;
            }

            try
            {
                await move(tasks);
                await db.SaveChangesAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
            catch (Exception ex) when (RefusedTasks.IsRefusal(ex))
            {
                // Another writer changed one of them first, or one of them cannot be moved: the step tries them again
                // one at a time on fresh state.
                db.ClearTracking();
                throw new RefusedBatchException([.. tasks.Select(t => t.Id)], ex);
            }
        }

        await outbox.PublishSavedAsync(cancellationToken);
        return tasks.Count;
    }
}
