using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics.Metrics;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Exceptions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Dispatching;

/// <summary>
/// The dispatcher's steps move tasks in batches, oldest first, one transaction a batch. A task the database refuses
/// to move whatever state is read (its next event number is already stored, a value a constraint refuses) or that
/// the domain refuses to move (a transition its stored state forbids) would fail its batch every round and hold back
/// every task behind it. So when a batch is refused, its step goes on one task at a time until it finds the task
/// refused: refused alone twice (read afresh each time: a task another writer moved meanwhile is not refused again),
/// it is logged with its id and left out of that step's batches for <see cref="HoldOff"/>, then tried again (an
/// operator may have repaired it); the next round's batch goes on without it. Only a refusal of the data counts
/// (<see cref="IsRefusal"/>): a lost connection, a deadlock, a timeout or a schema the process does not match fails the
/// step as before, for its next round. Metric: <c>assistenteia.dispatcher.tasks.left_out</c>, by step.
/// </summary>
public sealed class RefusedTasks
{
    /// <summary>How long a task refused alone stays out of its step's batches.</summary>
    public static readonly TimeSpan HoldOff = TimeSpan.FromMinutes(1);

    /// <summary>At most this many tasks are left out of a step at once (its batch query carries their ids); past it a refused task is only logged, and holds back its batch.</summary>
    public const int Capacity = 1_000;

    private readonly TimeProvider _clock;
    /// <summary>By step, each task left out and when (<see cref="TimeProvider.GetTimestamp"/>: a wall clock stepped back does not keep it out longer).</summary>
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Guid, long>> _leftOutSince = new(StringComparer.Ordinal);

    public RefusedTasks(TimeProvider clock, IMeterFactory? meterFactory = null)
    {
        _clock = clock;
        meterFactory?.Create(TaskMetrics.MeterName).CreateObservableGauge(
            "assistenteia.dispatcher.tasks.left_out",
            () => _leftOutSince.Keys.Select(step => new Measurement<int>(LeftOut(step).Count, new KeyValuePair<string, object?>("step", step))),
            "{task}",
            "Tasks a dispatcher step leaves out of its batches for now: the database or the domain refused to move them (the step's error log names each).");
    }

    /// <summary>The tasks <paramref name="step"/> leaves out of its batches now.</summary>
    public IReadOnlyCollection<Guid> LeftOut(string step)
    {
        if (!_leftOutSince.TryGetValue(step, out var tasks))
        {
            return [];
        }

        var ids = new List<Guid>();
        foreach (var (taskId, since) in tasks)
        {
            if (_clock.GetElapsedTime(since) >= HoldOff)
            {
                tasks.TryRemove(KeyValuePair.Create(taskId, since));
            }
            else
            {
                ids.Add(taskId);
            }
        }

        return ids;
    }

    /// <summary>
    /// Runs <paramref name="batch"/> (given its size and the tasks to leave out) for up to <paramref name="batchSize"/>
    /// tasks. When it is refused (<see cref="RefusedBatchException"/>), runs it for one task at a time until a task is
    /// refused twice alone (then left out; past <see cref="Capacity"/> only said), nothing is left to move, or as many
    /// tries as the refused batch held plus one. Returns how many tasks were moved.
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
        for (var tries = refused.TaskIds.Count + 1; tries > 0; tries--)
        {
            try
            {
                var one = await batch(1, LeftOut(step));
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

                LeaveOut(step, taskId, single.InnerException, logger);
                break;
            }
        }

        return moved;
    }

    /// <summary>
    /// Whether a failed batch was refused for what its rows hold: a conflict with the row version or the task's event
    /// numbers, a constraint (SQLSTATE class 23, the event guard's check at commit included), a value a column refuses
    /// (class 22), a transition the domain forbids, or a stored value this build cannot read. Not a lost connection, a deadlock, a timeout, a cancelled
    /// statement, or a schema or permission the process does not match: those would refuse every task alike.
    /// </summary>
    public static bool IsRefusal(Exception ex) => ex switch
    {
        DomainException or DbUpdateConcurrencyException or StoredValueUnreadableException => true,
        DbUpdateException { InnerException: DbException inner } => RefusesData(inner),
        DbException bare => RefusesData(bare),
        _ => false,
    };

    private static bool RefusesData(DbException error) =>
        error.SqlState is { } state && (state.StartsWith("23", StringComparison.Ordinal) || state.StartsWith("22", StringComparison.Ordinal));

    /// <summary>Leaves the task out of the step's batches, unless the step already leaves out <see cref="Capacity"/> tasks.</summary>
    private void LeaveOut(string step, Guid taskId, Exception? refusal, ILogger logger)
    {
        var tasks = _leftOutSince.GetOrAdd(step, _ => new ConcurrentDictionary<Guid, long>());
        var kept = tasks.Count < Capacity;
        if (kept)
        {
            tasks[taskId] = _clock.GetTimestamp();
        }

        logger.LogError(
            refusal, "The {Step} step could not move task {TaskId}; {Decision}",
            step, taskId, kept ? $"the step leaves it out for {HoldOff} and moves the others" : $"the step already leaves out {Capacity} tasks, so this one still holds back the tasks behind it");
    }
}

/// <summary>A dispatcher step's batch was refused for what its rows hold (<see cref="RefusedTasks.IsRefusal"/>); nothing of it was stored.</summary>
public sealed class RefusedBatchException(IReadOnlyList<Guid> taskIds, Exception inner)
    : Exception($"A batch of {taskIds.Count} tasks was refused.", inner)
{
    public IReadOnlyList<Guid> TaskIds { get; } = taskIds;
}
