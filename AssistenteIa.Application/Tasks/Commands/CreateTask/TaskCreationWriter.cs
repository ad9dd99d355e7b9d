using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using AssistenteIa.Application.Dispatching;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Tasks.Commands.CreateTask;

/// <summary>
/// Stores the tasks of concurrent creates together: the requests waiting when a writer is free go into one save, one
/// transaction and one commit (up to <see cref="MaxTasksPerSave"/> tasks), and their outbox rows are handed to the
/// publisher as one batch. Measured with pgbench on 2 cores, a create's rows (the task, its created and queued
/// events, its work message) committed eight to a transaction went in at about twice the rate of one to a
/// transaction: a commit, its WAL record and the deferred event guard cost per transaction, not per row. A request
/// arriving while every writer is busy waits for the next save; with <see cref="Writers"/> writers an idle system
/// saves each create at once, as before.
/// <para>
/// A save is all or nothing, so the writer keeps one task's refusal from failing the others:
/// </para>
/// <list type="bullet">
/// <item>Two requests of one tenant with the same Idempotency-Key are never in saves at the same time, whichever
/// writer takes them: the later one waits until the earlier one's save ended, then goes in a save where the unique
/// index refuses it alone and its request answers with the earlier task. Otherwise a client repeating one key would
/// fail the shared saves of other tenants' tasks, each then made again one task at a time.</item>
/// <item>A save refused for one task's row (a key another save stored meanwhile, a value a constraint refuses:
/// <see cref="RefusedTasks.IsRefusal"/>) or chosen as a deadlock's victim (two saves inserting the same keys in
/// crossed order) is made again one task at a time, each built afresh, so each request gets its own answer.</item>
/// <item>A task the database stored although its save reported a failure (the commit's answer lost with the
/// connection, then EF's retry refused on the primary key) is answered as stored.</item>
/// </list>
/// <para>
/// A failure that is not about the rows (a lost connection, after EF's retries) fails the whole save: saving its
/// tasks one by one would only repeat it.
/// </para>
/// </summary>
public sealed class TaskCreationWriter : IDisposable
{
    /// <summary>Saves in flight at most: enough to keep the database busy while requests gather for the next ones.</summary>
    public const int Writers = 4;

    /// <summary>Tasks in one save at most (up to four rows each).</summary>
    public const int MaxTasksPerSave = 32;

    private readonly Channel<Pending> _pending = Channel.CreateUnbounded<Pending>();

    /// <summary>The Idempotency-Keys of the saves in flight, of every writer, each with its save's end.</summary>
    private readonly ConcurrentDictionary<(string TenantId, string Key), Task> _keysInFlight = new();
    private readonly IServiceScopeFactory _scopes;
    private readonly ILogger<TaskCreationWriter> _logger;
    private readonly Task[] _writers;
    private readonly TimeProvider _clock;
    private readonly Histogram<int> _saveSize;
    private readonly Histogram<double> _wait;
    private readonly Counter<long> _split;

    /// <param name="scopes">Where each save gets its own database context and publisher.</param>
    /// <param name="logger">Where refused saves are logged.</param>
    /// <param name="meterFactory">Where the saves are measured (meter <see cref="TaskMetrics.MeterName"/>).</param>
    /// <param name="clock">Times the requests' wait.</param>
    /// <param name="writers">Saves in flight at most (<see cref="Writers"/> unless a test says otherwise).</param>
    public TaskCreationWriter(IServiceScopeFactory scopes, ILogger<TaskCreationWriter> logger, IMeterFactory meterFactory, TimeProvider clock, int writers = Writers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(writers, 1);
        _scopes = scopes;
        _logger = logger;
        _clock = clock;

        // What an operator reads to see whether creates share saves, how long they wait for one, and how often a
        // shared save is refused and made again task by task (each such save costs its tasks a save each).
        var meter = meterFactory.Create(TaskMetrics.MeterName);
        _saveSize = meter.CreateHistogram("assistenteia.tasks.creation.save_size", "{task}", "New tasks stored by one save of the API's TaskCreationWriter.", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32] });
        _wait = meter.CreateHistogram("assistenteia.tasks.creation.wait", "s", "Time a create waited for the save that took it (TaskCreationWriter).", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
        _split = meter.CreateCounter<long>("assistenteia.tasks.creation.split_saves", "{save}", "Shared saves of new tasks refused for one task's row (reason: refused) or as a deadlock's victim (reason: deadlock), then made one task at a time.");
        meter.CreateObservableGauge("assistenteia.tasks.creation.waiting", () => _pending.Reader.Count, "{request}", "Creates waiting for a save of the API's TaskCreationWriter.");

        // Not in the context of the request that happened to make this writer: its trace would be every save's.
        using (ExecutionContext.SuppressFlow())
        {
            _writers = [.. Enumerable.Range(0, writers).Select(_ => Task.Run(RunAsync))];
        }
    }

    /// <summary>
    /// Stores the task <paramref name="build"/> makes (with its events' outbox rows, carrying the current trace) and
    /// hands its rows to the publisher; returns the task stored. <paramref name="build"/> may run more than once (a
    /// save refused for another task's row is made again), so it must make the same task every time. Throws what the
    /// database or the domain refused for this task, or what failed the save it was in. A request cancelled before its
    /// save began is not stored; one cancelled later stops waiting, and its task may be stored.
    /// </summary>
    /// <param name="build">Makes the task, the same every time.</param>
    /// <param name="idempotencyKey">The tenant and key the task is stored under, if any: two never share a save.</param>
    /// <param name="cancellationToken">The request's.</param>
    public Task<AiTask> StoreAsync(Func<AiTask> build, (string TenantId, string Key)? idempotencyKey, CancellationToken cancellationToken)
    {
        var pending = new Pending(build, idempotencyKey, Activity.Current?.Id, _clock.GetTimestamp(), cancellationToken);
        return _pending.Writer.TryWrite(pending)
            ? pending.Stored.Task.WaitAsync(cancellationToken)
            : Task.FromException<AiTask>(new ObjectDisposedException(nameof(TaskCreationWriter), "The host is stopping; retry the request."));
    }

    /// <summary>No task is accepted after this; the writers end once the queued ones are saved.</summary>
    public void Dispose()
    {
        _pending.Writer.TryComplete();
        Task.WaitAll(_writers, TimeSpan.FromSeconds(10));
    }

    private async Task RunAsync()
    {
        var batch = new List<Pending>(MaxTasksPerSave);
        var keys = new HashSet<(string, string)>();
        List<Pending> heldBack = [];
        while (heldBack.Count > 0 || await _pending.Reader.WaitToReadAsync(CancellationToken.None))
        {
            // What the last save held back goes first, then what waits in the channel.
            var carried = new Queue<Pending>(heldBack);
            heldBack.Clear();
            // Made for the first key this save takes: a save without keys (most of them) needs none.
            TaskCompletionSource? saveEnded = null;
            try
            {
                while (batch.Count < MaxTasksPerSave && (carried.TryDequeue(out var earlier) ? earlier : _pending.Reader.TryRead(out var read) ? read : null) is { } next)
                {
                    if (next.CancellationToken.IsCancellationRequested)
                    {
                        next.Stored.TrySetCanceled(next.CancellationToken);
                    }
                    else if (next.IdempotencyKey is { } key
                        && !_keysInFlight.TryAdd(key, (saveEnded ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task))
                    {
                        // The same key as a task of this save or of another writer's: it goes in a later save, once that
                        // one ended.
                        heldBack.Add(next);
                    }
                    else
                    {
                        if (next.IdempotencyKey is { } taken)
                        {
                            keys.Add(taken);
                        }

                        batch.Add(next);
                    }
                }

                heldBack.InsertRange(0, carried);
                if (batch.Count > 0)
                {
                    foreach (var taken in batch)
                    {
                        _wait.Record(_clock.GetElapsedTime(taken.Arrived).TotalSeconds);
                    }

                    try
                    {
                        await SaveAsync(batch);
                    }
                    catch (Exception ex)
                    {
                        // SaveAsync answers every request itself; should it ever fail to, its requests are failed here, and
                        // the loop goes on: a loop that ended would leave every later create waiting for ever.
                        _logger.LogError(ex, "A save of {Count} new tasks failed without answering its requests", batch.Count);
                        foreach (var unanswered in batch)
                        {
                            unanswered.Stored.TrySetException(ex);
                        }
                    }

                    batch.Clear();
                }
                else if (heldBack.Count > 0)
                {
                    // Every request left waits for another writer's save: wait for one of those to end (or for new
                    // requests, unless the host is stopping and none can come), rather than look again at once.
                    var holding = SavesHolding(heldBack);
                    await Task.WhenAny(_pending.Reader.Completion.IsCompleted ? holding : [_pending.Reader.WaitToReadAsync(CancellationToken.None).AsTask(), .. holding]);
                }
            }
            finally
            {
                // Also if the loop failed between taking a key and its save: a key left here would hold back every
                // later request with it for good.
                foreach (var key in keys)
                {
                    _keysInFlight.TryRemove(key, out _);
                }

                keys.Clear();
                saveEnded?.TrySetResult();
            }
        }
    }

    /// <summary>
    /// The ends of the saves in flight that hold the keys of <paramref name="heldBack"/>, each once (a flood of one
    /// key's repeats waits on one task); a completed task when a key's save ended meanwhile, to look again at once.
    /// </summary>
    private List<Task> SavesHolding(List<Pending> heldBack)
    {
        var saves = new HashSet<Task>();
        foreach (var pending in heldBack)
        {
            if (pending.IdempotencyKey is not { } key || !_keysInFlight.TryGetValue(key, out var saving))
            {
                return [Task.CompletedTask];
            }

            saves.Add(saving);
        }

        return [.. saves];
    }

    /// <summary>Saves <paramref name="batch"/> and completes each of its requests; never throws.</summary>
    private async Task SaveAsync(List<Pending> batch)
    {
        try
        {
            await SaveTogetherAsync(batch);
        }
        catch (Exception ex) when (batch.Count > 1 && (RefusedTasks.IsRefusal(ex) || IsDeadlock(ex)))
        {
            _logger.LogInformation(ex, "A save of {Count} new tasks was refused; saving them one at a time", batch.Count);
            _split.Add(1, new KeyValuePair<string, object?>("reason", IsDeadlock(ex) ? "deadlock" : "refused"));
            foreach (var one in batch)
            {
                try
                {
                    await SaveTogetherAsync([one]);
                }
                catch (Exception alone)
                {
                    await FailAsync(one, alone);
                }
            }
        }
        catch (Exception ex)
        {
            foreach (var one in batch)
            {
                await FailAsync(one, ex);
            }
        }
    }

    /// <summary>Builds, saves and answers the requests of <paramref name="batch"/>, then hands their rows to the publisher.</summary>
    private async Task SaveTogetherAsync(List<Pending> batch)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<IAppDbContext>();
        var saving = new List<Pending>(batch.Count);
        foreach (var pending in batch)
        {
            try
            {
                pending.Built = pending.Build();
            }
            catch (Exception ex)
            {
                // Only this request's task could not be made: the others are saved without it.
                pending.Stored.TrySetException(ex);
                continue;
            }

            db.Tasks.Add(pending.Built);

            // Each task's rows carry its own request's trace, so its work is traced from the API to the worker.
            db.StageEvents(pending.TraceParent);
            saving.Add(pending);
        }

        if (saving.Count == 0)
        {
            return;
        }

        // Not a request's token: the save holds other requests' tasks. A few tasks go in one round trip without
        // BEGIN/COMMIT; a larger save takes an ordinary transaction.
        await db.SaveInOneRoundTripAsync(CancellationToken.None);
        _saveSize.Record(saving.Count);
        foreach (var pending in saving)
        {
            pending.Stored.TrySetResult(pending.Built!);
        }

        // Hands the rows to the background publisher; whatever it cannot take is left to the relay, never thrown.
        await scope.ServiceProvider.GetRequiredService<OutboxPublisher>().PublishSavedAsync(CancellationToken.None);
    }

    /// <summary>
    /// Fails the request, unless its task is stored after all: a commit whose answer was lost (then refused on the
    /// primary key when EF's retry sent the task again, or retried until EF's limit while the database restarted).
    /// Never throws: a question the database cannot answer fails the request with the save's error.
    /// </summary>
    private async Task FailAsync(Pending pending, Exception error)
    {
        try
        {
            if (pending.Built is { } built)
            {
                await using var scope = _scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<IAppDbContext>();
                if (await db.Tasks.AnyAsync(t => t.Id == built.Id && t.CorrelationId == built.CorrelationId))
                {
                    pending.Stored.TrySetResult(built);
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "Could not read whether task {TaskId} was stored after its save failed", pending.Built?.Id);
        }

        pending.Stored.TrySetException(error);
    }

    /// <summary>Also when wrapped: EF's retrying strategy retries a deadlock, then wraps the last one.</summary>
    private static bool IsDeadlock(Exception ex) => ex.Find<DbException>(e => e.SqlState == "40P01") is not null;

    private sealed record Pending(Func<AiTask> Build, (string TenantId, string Key)? IdempotencyKey, string? TraceParent, long Arrived, CancellationToken CancellationToken)
    {
        public TaskCompletionSource<AiTask> Stored { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The task as this request's last save attempt built it.</summary>
        public AiTask? Built { get; set; }
    }
}
