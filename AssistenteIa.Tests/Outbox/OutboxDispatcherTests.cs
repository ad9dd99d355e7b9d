using System.Collections.Concurrent;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AssistenteIa.Tests.Outbox;

/// <summary>The background publisher never lets a task's later row overtake one it left to the relay.</summary>
public sealed class OutboxDispatcherTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly RecordingPublisher _broker = new();

    [Fact]
    public async Task A_task_with_a_row_that_waited_too_long_is_left_whole_to_the_relay()
    {
        var dispatcher = CreateDispatcher();
        var late = Guid.NewGuid();
        var other = Guid.NewGuid();
        var stale = Row(late, 1, age: OutboxDispatcher.MaxWait + TimeSpan.FromMilliseconds(1));
        var fresh = Row(late, 2, age: TimeSpan.Zero);
        var unrelated = Row(other, 1, age: TimeSpan.Zero);

        dispatcher.Enqueue([stale, fresh, unrelated]);
        dispatcher.Complete();
        await dispatcher.RunAsync(CancellationToken.None);

        Assert.Equal(new[] { unrelated.Id }, _broker.Published);
    }

    [Fact]
    public async Task A_later_row_of_a_task_left_to_the_relay_is_left_too_until_the_deferral_ends()
    {
        var dispatcher = CreateDispatcher();
        var running = dispatcher.RunAsync(CancellationToken.None);
        var task = Guid.NewGuid();

        dispatcher.Enqueue([Row(task, 1, age: OutboxDispatcher.MaxWait * 2)]);
        await PublishedAsync(dispatcher, Row(Guid.NewGuid(), 1, TimeSpan.Zero));

        // A batch later, fresh, yet behind a row the relay has not published: the relay takes it too.
        var next = Row(task, 2, TimeSpan.Zero);
        dispatcher.Enqueue([next]);
        await PublishedAsync(dispatcher, Row(Guid.NewGuid(), 1, TimeSpan.Zero));
        Assert.DoesNotContain(next.Id, _broker.Published);

        _clock.Advance(OutboxDispatcher.DeferFor + TimeSpan.FromSeconds(1));
        var afterwards = Row(task, 3, TimeSpan.Zero);
        await PublishedAsync(dispatcher, afterwards);

        dispatcher.Complete();
        await running;
    }

    [Fact]
    public async Task A_save_is_never_split_between_two_batches()
    {
        // Split, a task's work message would wait for the confirms of the event saved with it (an idle system showed
        // it: the created event went out alone, the work message one confirm wait, ~9 ms, later).
        var dispatcher = CreateDispatcher();
        var first = Enumerable.Range(0, OutboxDispatcher.MaxBatch - 1).Select(_ => Row(Guid.NewGuid(), 1, TimeSpan.Zero)).ToList();
        var task = Guid.NewGuid();
        dispatcher.Enqueue(first);
        dispatcher.Enqueue([Row(task, 1, TimeSpan.Zero), Row(task, 2, TimeSpan.Zero)]);

        dispatcher.Complete();
        await dispatcher.RunAsync(CancellationToken.None);

        Assert.Equal([OutboxDispatcher.MaxBatch - 1, 2], _broker.Batches);
    }

    [Fact]
    public async Task Saves_waiting_together_go_out_in_one_batch()
    {
        var dispatcher = CreateDispatcher();
        for (var i = 0; i < 3; i++)
        {
            var task = Guid.NewGuid();
            dispatcher.Enqueue([Row(task, 1, TimeSpan.Zero), Row(task, 2, TimeSpan.Zero)]);
        }

        dispatcher.Complete();
        await dispatcher.RunAsync(CancellationToken.None);

        Assert.Equal([6], _broker.Batches);
    }

    [Fact]
    public async Task A_save_that_does_not_fit_whole_is_left_to_the_relay_whole()
    {
        var dispatcher = CreateDispatcher();
        var filler = Enumerable.Range(0, OutboxDispatcher.MaxQueued - 1).Select(i => Row(Guid.NewGuid(), 1, TimeSpan.Zero)).ToList();
        dispatcher.Enqueue(filler);
        var task = Guid.NewGuid();
        dispatcher.Enqueue([Row(task, 1, TimeSpan.Zero), Row(task, 2, TimeSpan.Zero)]);

        dispatcher.Complete();
        await dispatcher.RunAsync(CancellationToken.None);

        Assert.Equal(filler.Count, _broker.Published.Count);
        Assert.DoesNotContain(_broker.Published, id => !filler.Exists(f => f.Id == id));
    }

    [Fact]
    public async Task A_batch_goes_out_in_one_call_and_a_refused_row_is_left_to_the_relay_with_its_tasks_later_rows()
    {
        var dispatcher = CreateDispatcher();
        var running = dispatcher.RunAsync(CancellationToken.None);
        var refusedTask = Guid.NewGuid();
        var refused = Row(refusedTask, 1, TimeSpan.Zero);
        var sameTask = Row(refusedTask, 2, TimeSpan.Zero);
        var others = Enumerable.Range(0, 5).Select(_ => Row(Guid.NewGuid(), 1, TimeSpan.Zero)).ToList();
        _broker.Refuse.Add(refused.Id);

        dispatcher.Enqueue([refused, sameTask, .. others]);
        await PublishedAsync(dispatcher, Row(Guid.NewGuid(), 1, TimeSpan.Zero));

        // The seven rows handed over together went out in one call (the marker row with them or after them).
        Assert.True(_broker.Batches[0] >= 7, $"the first call published {_broker.Batches[0]} rows");
        Assert.Equal((1, true, false, false), (refused.PublishAttempts, refused.LastError is not null, refused.SentAt is not null, refused.ClaimedUntil is not null));
        Assert.All(others, o => Assert.NotNull(o.SentAt));

        // The relay publishes the refused row; until the deferral ends the task's next rows are left to it too.
        var next = Row(refusedTask, 3, TimeSpan.Zero);
        dispatcher.Enqueue([next]);
        await PublishedAsync(dispatcher, Row(Guid.NewGuid(), 1, TimeSpan.Zero));
        Assert.DoesNotContain(next.Id, _broker.Published);

        dispatcher.Complete();
        await running;
    }

    private OutboxDispatcher CreateDispatcher()
    {
        var marks = new OutboxSentMarks(new ServiceCollection().BuildServiceProvider().GetRequiredService<IServiceScopeFactory>(), _clock, NullLogger<OutboxSentMarks>.Instance);
        return new OutboxDispatcher(_broker, marks, _clock, NullLogger<OutboxDispatcher>.Instance);
    }

    private OutboxMessage Row(Guid taskId, long sequence, TimeSpan age) =>
        OutboxMessage.Create("task-events", "task.test", "{}", null, null, 0, _clock.GetUtcNow() - age, "tenant-x", taskId, sequence);

    /// <summary>Hands over <paramref name="row"/> and waits until it was published: everything queued before it was handled.</summary>
    private async Task PublishedAsync(OutboxDispatcher dispatcher, OutboxMessage row)
    {
        dispatcher.Enqueue([row]);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!_broker.Published.Contains(row.Id))
        {
            await Task.Delay(10, deadline.Token);
        }
    }

    /// <summary>Stands in for the broker only to record what was published; confirms at once, except the rows it is told to refuse.</summary>
    private sealed class RecordingPublisher : IMessagePublisher
    {
        private readonly ConcurrentQueue<Guid> _published = new();

        public IReadOnlyList<Guid> Published => [.. _published];

        public HashSet<Guid> Refuse { get; } = [];

        /// <summary>How many rows each call published.</summary>
        public List<int> Batches { get; } = [];

        public Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken)
        {
            _published.Enqueue(message.Id);
            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<Exception?>> PublishInOrderAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
        {
            Batches.Add(messages.Count);
            var results = new Exception?[messages.Count];
            for (var i = 0; i < messages.Count; i++)
            {
                if (Refuse.Contains(messages[i].Id))
                {
                    results[i] = new InvalidOperationException("nacked");
                }
                else
                {
                    _published.Enqueue(messages[i].Id);
                }
            }

            return Task.FromResult<IReadOnlyList<Exception?>>(results);
        }
    }
}
