using System.Data.Common;
using AssistenteIa.Application.Dispatching;
using AssistenteIa.Domain.Exceptions;
using Microsoft.EntityFrameworkCore;
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
        Assert.True(RefusedTasks.IsRefusal(new DbUpdateException("refused", new StubDbException(transient: false))));
        Assert.True(RefusedTasks.IsRefusal(new StubDbException(transient: false)));
        Assert.True(RefusedTasks.IsRefusal(new DomainException("no such transition")));

        Assert.False(RefusedTasks.IsRefusal(new DbUpdateException("lost", new StubDbException(transient: true))));
        Assert.False(RefusedTasks.IsRefusal(new DbUpdateException("slow", new TimeoutException())));
        Assert.False(RefusedTasks.IsRefusal(new StubDbException(transient: true)));
        Assert.False(RefusedTasks.IsRefusal(new OperationCanceledException()));
    }

    [Fact]
    public async Task A_refused_batch_goes_on_one_task_at_a_time_and_leaves_out_the_one_refused_until_its_hold_off_ends()
    {
        var queue = new FakeQueue(count: 5, refused: [2]);
        var refusedTasks = new RefusedTasks(_clock);

        Assert.Equal(4, await refusedTasks.RunAsync(Step, 10, queue.MoveAsync, NullLogger.Instance));
        Assert.Equal([queue.Ids[2]], refusedTasks.LeftOut(Step));
        Assert.Empty(refusedTasks.LeftOut("another step"));

        // Left out: the next round does not try it.
        var tries = queue.Tries;
        Assert.Equal(0, await refusedTasks.RunAsync(Step, 10, queue.MoveAsync, NullLogger.Instance));
        Assert.Equal(tries + 1, queue.Tries);

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
    public async Task Past_its_capacity_a_refused_task_is_not_left_out_yet_the_round_still_moves_the_others()
    {
        var refusedTasks = new RefusedTasks(_clock);
        var full = new FakeQueue(count: RefusedTasks.Capacity, refused: [.. Enumerable.Range(0, RefusedTasks.Capacity)]);
        Assert.Equal(0, await refusedTasks.RunAsync(Step, RefusedTasks.Capacity, full.MoveAsync, NullLogger.Instance));
        Assert.Equal(RefusedTasks.Capacity, refusedTasks.LeftOut(Step).Count);

        var queue = new FakeQueue(count: 3, refused: [0]);
        Assert.Equal(2, await refusedTasks.RunAsync("other", 10, queue.MoveAsync, NullLogger.Instance));
        Assert.Empty(refusedTasks.LeftOut("other"));
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
            var batch = _waiting.Where(id => !leftOut.Contains(id)).Take(size).ToList();
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

    private sealed class StubDbException(bool transient) : DbException("stub")
    {
        public override bool IsTransient => transient;
    }
}
