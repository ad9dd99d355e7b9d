using System.Data.Common;
using System.Diagnostics.Metrics;
using AssistenteIa.Application.Dispatching;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Exceptions;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AssistenteIa.Tests.Outbox;

/// <summary>How a dispatcher step goes on past a task it cannot move (<see cref="RefusedTasks"/>), on a queue of ids in memory.</summary>
public sealed class RefusedTasksTests
{
    private const string Step = "step";

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);

    [Fact]
    public void Only_what_the_rows_hold_is_a_refusal_not_the_connection_or_a_timeout()
    {
        Assert.True(RefusedTasks.IsRefusal(new DbUpdateConcurrencyException("conflict")));
        Assert.True(RefusedTasks.IsRefusal(new DbUpdateException("unique key", new StubDbException("23505"))));
        Assert.True(RefusedTasks.IsRefusal(new DbUpdateException("value too long", new StubDbException("22001"))));
        Assert.True(RefusedTasks.IsRefusal(new StubDbException("23000")));
        Assert.True(RefusedTasks.IsRefusal(new DomainException("no such transition")));
        Assert.True(RefusedTasks.IsRefusal(new StoredValueUnreadableException(typeof(AiTaskStatus), "AwaitingHuman")));

        // A deadlock, a lost connection, a statement cancelled or timed out by the server, a column or a permission the
        // process does not match, an internal error: every task would fail alike.
        foreach (var state in (string[])["40P01", "08006", "57014", "57P01", "42703", "42501", "XX000"])
        {
            Assert.False(RefusedTasks.IsRefusal(new DbUpdateException(state, new StubDbException(state))), state);
            Assert.False(RefusedTasks.IsRefusal(new StubDbException(state)), state);
        }

        Assert.False(RefusedTasks.IsRefusal(new DbUpdateException("slow", new TimeoutException())));
        Assert.False(RefusedTasks.IsRefusal(new DbUpdateException("no inner error")));
        Assert.False(RefusedTasks.IsRefusal(new OperationCanceledException()));
    }

    [Fact]
    public async Task A_refused_batch_goes_on_one_task_at_a_time_and_leaves_out_the_one_refused_until_its_hold_off_ends()
    {
        var queue = new FakeQueue(count: 5, refused: [2]);
        var refusedTasks = new RefusedTasks(_clock);

        // The batch, then one at a time up to the refused task, tried twice; the round ends there.
        Assert.Equal(2, await refusedTasks.RunAsync(Step, 10, queue.MoveAsync, NullLogger.Instance));
        Assert.Equal(5, queue.Tries);
        Assert.Equal([queue.Ids[2]], refusedTasks.LeftOut(Step));
        Assert.Empty(refusedTasks.LeftOut("another step"));

        // Left out: the next round's batch goes on without it, then finds nothing more.
        Assert.Equal(2, await refusedTasks.RunAsync(Step, 10, queue.MoveAsync, NullLogger.Instance));
        Assert.Equal(0, await refusedTasks.RunAsync(Step, 10, queue.MoveAsync, NullLogger.Instance));
        Assert.Equal(7, queue.Tries);

        _clock.Advance(RefusedTasks.HoldOff);
        Assert.Empty(refusedTasks.LeftOut(Step));
        queue.Repair();
        Assert.Equal(1, await refusedTasks.RunAsync(Step, 10, queue.MoveAsync, NullLogger.Instance));
    }

    [Fact]
    public async Task A_task_refused_once_and_moved_when_read_again_is_not_left_out()
    {
        // Another writer changed it between the batch's read and its save: the fresh read moves it.
        var queue = new FakeQueue(count: 3, refused: [0], refusalsEach: 2);
        var refusedTasks = new RefusedTasks(_clock);

        Assert.Equal(3, await refusedTasks.RunAsync(Step, 10, queue.MoveAsync, NullLogger.Instance));
        Assert.Empty(refusedTasks.LeftOut(Step));
    }

    [Fact]
    public async Task A_round_tries_at_most_one_more_time_than_its_batch_held()
    {
        // Every task refused: the batch, one task twice, and the round ends.
        var queue = new FakeQueue(count: 50, refused: [.. Enumerable.Range(0, 50)]);
        var refusedTasks = new RefusedTasks(_clock);
        Assert.Equal(0, await refusedTasks.RunAsync(Step, 50, queue.MoveAsync, NullLogger.Instance));
        Assert.Equal(3, queue.Tries);

        // Every task refused once (each read again is moved): at most the batch's size plus one, after the batch.
        var racing = new FakeQueue(count: 50, refused: [.. Enumerable.Range(0, 50)], refusalsEach: 2);
        await new RefusedTasks(_clock).RunAsync(Step, 50, racing.MoveAsync, NullLogger.Instance);
        Assert.Equal(1 + 50 + 1, racing.Tries);
    }

    [Fact]
    public async Task Past_its_capacity_a_step_stops_at_a_refused_task_as_it_did_before_it_left_any_out()
    {
        var refusedTasks = new RefusedTasks(_clock);
        var queue = new FakeQueue(count: RefusedTasks.Capacity + 3, refused: [.. Enumerable.Range(0, RefusedTasks.Capacity + 1)]);
        for (var round = 0; round < RefusedTasks.Capacity; round++)
        {
            Assert.Equal(0, await refusedTasks.RunAsync(Step, 10, queue.MoveAsync, NullLogger.Instance));
        }

        // Each round costs the batch and two tries alone, no more: nothing is moved until a hold-off ends.
        Assert.Equal(RefusedTasks.Capacity, refusedTasks.LeftOut(Step).Count);
        var tries = queue.Tries;
        Assert.Equal(0, await refusedTasks.RunAsync(Step, 10, queue.MoveAsync, NullLogger.Instance));
        Assert.Equal(tries + 3, queue.Tries);
        Assert.DoesNotContain(queue.Ids[RefusedTasks.Capacity], refusedTasks.LeftOut(Step));

        // Another step has room of its own.
        var other = new FakeQueue(count: 2, refused: [0]);
        Assert.Equal(0, await refusedTasks.RunAsync("other", 10, other.MoveAsync, NullLogger.Instance));
        Assert.Single(refusedTasks.LeftOut("other"));
    }

    [Fact]
    public async Task The_tasks_left_out_are_measured_by_step()
    {
        using var meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var refusedTasks = new RefusedTasks(_clock, meters.GetRequiredService<IMeterFactory>());
        await refusedTasks.RunAsync(Step, 10, new FakeQueue(count: 3, refused: [0, 1]).MoveAsync, NullLogger.Instance);
        await refusedTasks.RunAsync(Step, 10, new FakeQueue(count: 3, refused: [1]).MoveAsync, NullLogger.Instance);

        var measured = new Dictionary<string, int>();
        using var listener = new MeterListener();
        var factory = meters.GetRequiredService<IMeterFactory>();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "assistenteia.dispatcher.tasks.left_out" && instrument.Meter.Scope == factory)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) => measured[(string)tags[0].Value!] = value);
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(new Dictionary<string, int> { [Step] = 2 }, measured);

        _clock.Advance(RefusedTasks.HoldOff);
        listener.RecordObservableInstruments();
        Assert.Equal(new Dictionary<string, int> { [Step] = 0 }, measured);
    }

    [Fact]
    public async Task A_failure_that_is_not_a_refusal_fails_the_step_and_leaves_nothing_out()
    {
        var refusedTasks = new RefusedTasks(_clock);
        await Assert.ThrowsAsync<TimeoutException>(() => refusedTasks.RunAsync(Step, 10, (_, _) => throw new TimeoutException(), NullLogger.Instance));
        Assert.Empty(refusedTasks.LeftOut(Step));
    }

    /// <summary>
    /// Tasks moved oldest first, a batch all or nothing: a batch holding a refused task moves none. A refused task is
    /// refused <paramref name="refusalsEach"/> times (a batch and a first read alone: twice), then moved.
    /// </summary>
    private sealed class FakeQueue(int count, int[] refused, int refusalsEach = int.MaxValue)
    {
        private readonly Dictionary<Guid, int> _refusalsLeft = refused.ToDictionary(i => IdOf(i), _ => refusalsEach);
        private readonly List<Guid> _waiting = [.. Enumerable.Range(0, count).Select(IdOf)];

        public IReadOnlyList<Guid> Ids { get; } = [.. Enumerable.Range(0, count).Select(IdOf)];

        public int Tries { get; private set; }

        public void Repair() => _refusalsLeft.Clear();

        public Task<int> MoveAsync(int size, IReadOnlyCollection<Guid> leftOut)
        {
            Tries++;
            var skipped = leftOut.ToHashSet();
            var batch = _waiting.Where(id => !skipped.Contains(id)).Take(size).ToList();
            var refusedHere = batch.Where(id => _refusalsLeft.GetValueOrDefault(id) > 0).ToList();
            if (refusedHere.Count > 0)
            {
                refusedHere.ForEach(id => _refusalsLeft[id]--);
                throw new RefusedBatchException(batch, new DbUpdateConcurrencyException("its next event is taken"));
            }

            _waiting.RemoveAll(batch.Contains);
            return Task.FromResult(batch.Count);
        }

        private static Guid IdOf(int i) => new(i, 0, 0, new byte[8]);
    }

    private sealed class StubDbException(string sqlState) : DbException("stub")
    {
        public override string SqlState => sqlState;
    }
}
