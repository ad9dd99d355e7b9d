using System.Collections.Concurrent;
using System.Data.Common;
using AssistenteIa.Domain.Exceptions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// The dispatcher's steps move tasks in batches, oldest first, one transaction a batch. A task the database refuses
/// to move whatever state is read (its next event number is already stored, a value a constraint refuses) or that
/// the domain refuses to move (a transition its stored state forbids) would fail its batch every round and hold back
/// every task behind it. So when a batch is refused, its step goes on one task at a time; a task refused alone twice
/// (read afresh each time) is logged with its id and left out of that step's batches for <see cref="HoldOff"/>, then
/// tried again (an operator may have repaired it). A lost connection, a deadlock or a timeout is not a refusal: the step fails and its next round
/// tries the batch again.
/// </summary>
public sealed class RefusedTasks(TimeProvider clock)
{
    /// <summary>How long a task refused alone stays out of its step's batches.</summary>
    public static readonly TimeSpan HoldOff = TimeSpan.FromMinutes(1);

    /// <summary>At most this many tasks are left out at once (the batch query carries their ids); past it a refused task is only logged.</summary>
    public const int Capacity = 1_000;

    private readonly ConcurrentDictionary<(string Step, Guid TaskId), DateTimeOffset> _leftOutUntil = new();

    /// <summary>The tasks <paramref name="step"/> leaves out of its batches now.</summary>
    public IReadOnlyCollection<Guid> LeftOut(string step)
    {
        var now = clock.GetUtcNow();
        var ids = new List<Guid>();
        foreach (var (key, until) in _leftOutUntil)
        {
            if (until <= now)
            {
                _leftOutUntil.TryRemove(KeyValuePair.Create(key, until));
            }
            else if (key.Step == step)
            {
                ids.Add(key.TaskId);
            }
        }

        return ids;
    }

    /// <summary>
    /// Runs <paramref name="batch"/> (given its size and the tasks to leave out) for up to <paramref name="batchSize"/>
    /// tasks; when it is refused (<see cref="RefusedBatchException"/>), runs it again for one task at a time, for as
    /// many tasks as the refused batch held. A task refused alone is read and tried once more (another writer may have
    /// moved it meanwhile, which a fresh read sees) before it is left out. Returns how many tasks were moved.
    /// </summary>
    public async Task<int> RunAsync(string step, int batchSize, Func<int, IReadOnlyCollection<Guid>, Task<int>> batch, ILogger logger)
    {
        RefusedBatchException refused;
        try
        {
            return await batch(batchSize, LeftOut(step));
        }
        catch (RefusedBatchException ex)
        {
            refused = ex;
        }

        logger.LogInformation(refused.InnerException, "The {Step} step's batch of {Count} tasks was refused; moving them one at a time", step, refused.TaskIds.Count);
        var moved = 0;
        var suspects = new HashSet<Guid>();
        var refusedNow = new List<Guid>();
        for (var tries = 2 * refused.TaskIds.Count; tries > 0; tries--)
        {
            try
            {
                var one = await batch(1, [.. LeftOut(step), .. refusedNow]);
                if (one == 0)
                {
                    break;
                }

                moved += one;
            }
            catch (RefusedBatchException single)
            {
                var taskId = single.TaskIds[0];
                if (suspects.Add(taskId))
                {
                    continue;
                }

                refusedNow.Add(taskId);
                LeaveOut(step, taskId, single.InnerException, logger);
            }
        }

        return moved;
    }

    /// <summary>Whether a failed batch was refused for what its rows hold, rather than for the connection, a deadlock or a timeout.</summary>
    public static bool IsRefusal(Exception ex) =>
        ex is DomainException
        || (ex is DbUpdateException && ex.InnerException is not (DbException { IsTransient: true } or TimeoutException))
        || ex is DbException { IsTransient: false };

    private void LeaveOut(string step, Guid taskId, Exception? refusal, ILogger logger)
    {
        var kept = _leftOutUntil.Count < Capacity;
        if (kept)
        {
            _leftOutUntil[(step, taskId)] = clock.GetUtcNow() + HoldOff;
        }

        logger.LogError(
            refusal, "The {Step} step could not move task {TaskId}; {Decision}",
            step, taskId, kept ? $"the step leaves it out for {HoldOff} and moves the others" : "too many tasks are left out already, so it stays in the batch");
    }
}

/// <summary>A dispatcher step's batch was refused for what its rows hold (<see cref="RefusedTasks.IsRefusal"/>); nothing of it was stored.</summary>
public sealed class RefusedBatchException(IReadOnlyList<Guid> taskIds, Exception inner)
    : Exception($"A batch of {taskIds.Count} tasks was refused.", inner)
{
    public IReadOnlyList<Guid> TaskIds { get; } = taskIds;
}
