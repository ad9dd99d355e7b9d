using AssistenteIa.Application.Dispatching;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Infrastructure.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RabbitMQ.Client;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// The requeuer announces again the tasks whose work message is gone, judged by the real broker's queue and the
/// outbox: not those of a backlog still waiting in the queue (each would get a second message, and another every few
/// minutes while the backlog lasts), not those whose message the outbox has yet to publish, and all those of an emptied
/// queue in one round (a batch each housekeeping interval took hours to recover a purged queue of thousands). A message
/// lost behind a backlog that does not drain is still found, later and a batch at a time.
/// </summary>
public sealed class StaleQueueTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>, IAsyncLifetime
{
    private static readonly StaleQueueLimits Limits = new(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(20), BatchSize: 100, MaxPerRound: 5_000, TimeSpan.FromMinutes(1));

    [Fact]
    public async Task A_backlog_still_waiting_in_the_queue_is_not_announced_again_and_once_the_queue_is_emptied_it_is()
    {
        var tenant = SeededTasks.NewTenant("stale");
        var now = DateTimeOffset.UtcNow;
        var tasks = Enumerable.Range(0, 3).Select(i => SeededTasks.Queued(tenant, at: now.AddMinutes(-10 + i))).ToList();
        await SeedPublishedAsync(tasks);
        await PublishWorkAsync(count: 3);

        Assert.Equal(0, await RequeueAsync(Limits));
        Assert.Equal([2L, 2L, 2L], await isolated.EventSequencesAsync(tasks));
        Assert.Equal(3, await WaitingAsync());

        // The messages are lost (purged): the tasks still Queued are announced again, and their new messages wait.
        await isolated.PurgeWorkQueueAsync();
        Assert.Equal(3, await RequeueAsync(Limits));
        Assert.Equal([3L, 3L, 3L], await isolated.EventSequencesAsync(tasks));
        await Eventually.UntilAsync(WaitingAsync, n => n == 3, TimeSpan.FromSeconds(10), "the three new work messages in tasks-queued");
    }

    [Fact]
    public async Task Behind_a_backlog_that_does_not_drain_a_task_queued_past_the_longer_age_is_announced_one_batch_a_round()
    {
        var tenant = SeededTasks.NewTenant("stale");
        var now = DateTimeOffset.UtcNow;
        var lost = Enumerable.Range(0, 150).Select(i => SeededTasks.Queued(tenant, at: now.AddMinutes(-30).AddMilliseconds(i))).ToList();
        var waitingItsTurn = SeededTasks.Queued(tenant, at: now.AddMinutes(-10));
        await SeedPublishedAsync([.. lost, waitingItsTurn]);
        await PublishWorkAsync(count: 1);

        Assert.Equal(100, await RequeueAsync(Limits));
        Assert.Equal(50, await RequeueAsync(Limits));
        Assert.All(await isolated.EventSequencesAsync(lost), sequence => Assert.Equal(3L, sequence));
        Assert.Equal([2L], await isolated.EventSequencesAsync([waitingItsTurn]));
    }

    [Fact]
    public async Task A_deleted_queue_is_declared_again_empty_and_every_stale_task_is_announced_in_one_round_up_to_its_limit()
    {
        var tenant = SeededTasks.NewTenant("stale");
        var now = DateTimeOffset.UtcNow;
        var stale = Enumerable.Range(0, 250).Select(i => SeededTasks.Queued(tenant, at: now.AddMinutes(-30).AddMilliseconds(i))).ToList();
        var fresh = SeededTasks.Queued(tenant, at: now);
        await SeedPublishedAsync([.. stale, fresh]);
        await isolated.DeleteWorkQueueAsync();

        Assert.Equal(230, await RequeueAsync(Limits with { MaxPerRound = 230 }));
        Assert.Equal(20, await RequeueAsync(Limits));
        Assert.All(await isolated.EventSequencesAsync(stale), sequence => Assert.Equal(3L, sequence));
        Assert.Equal([2L], await isolated.EventSequencesAsync([fresh]));

        // Announced into the queue declared again, not into a queue that no longer exists.
        await Eventually.UntilAsync(WaitingAsync, n => n == 250, TimeSpan.FromSeconds(10), "the 250 new work messages in tasks-queued");
    }

    [Fact]
    public async Task A_task_whose_work_message_the_outbox_has_not_published_yet_is_left_to_the_relay()
    {
        var tenant = SeededTasks.NewTenant("stale");
        var now = DateTimeOffset.UtcNow;
        var published = SeededTasks.Queued(tenant, at: now.AddMinutes(-30));
        var unpublished = SeededTasks.Queued(tenant, at: now.AddMinutes(-31));
        await isolated.SaveAsync([published, unpublished], []);
        await isolated.MarkWorkMessagesSentAsync([published]);

        Assert.Equal(1, await RequeueAsync(Limits));
        Assert.Equal([3L, 2L], await isolated.EventSequencesAsync([published, unpublished]));
    }

    public async ValueTask InitializeAsync() => await ClearAsync();

    public async ValueTask DisposeAsync() => await ClearAsync();

    private async Task ClearAsync()
    {
        await Sql.ExecuteAsync(isolated.ConnectionString, """DELETE FROM "OutboxMessages"; DELETE FROM "Tasks";""");
        await isolated.PurgeWorkQueueAsync();
    }

    /// <summary>Tasks whose work messages went out, as they would once the outbox published them.</summary>
    private async Task SeedPublishedAsync(IReadOnlyCollection<AiTask> tasks)
    {
        await isolated.SaveAsync(tasks, []);
        await isolated.MarkWorkMessagesSentAsync(tasks);
    }

    private Task<long> WaitingAsync() => new RabbitMqWorkQueue(isolated.Services).CountWaitingAsync(CancellationToken.None);

    private async Task<int> RequeueAsync(StaleQueueLimits limits)
    {
        await using var db = isolated.CreateDbContext();
        var requeuer = new RequeueStaleTasksHandler(
            db, isolated.Outbox(db), new RabbitMqWorkQueue(isolated.Services), TimeProvider.System, new RefusedTasks(new FakeTimeProvider()), NullLogger<RequeueStaleTasksHandler>.Instance);
        return await requeuer.HandleAsync(limits, CancellationToken.None);
    }

    /// <summary>Work messages a worker has not taken yet (their bodies do not matter: nothing consumes them here).</summary>
    private async Task PublishWorkAsync(int count)
    {
        await using var channel = await isolated.Services.GetRequiredService<IConnection>().CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await RabbitMqTopology.DeclareAsync(channel, CancellationToken.None);
        for (var i = 0; i < count; i++)
        {
            await channel.BasicPublishAsync("", Queues.TasksQueued, mandatory: true, new BasicProperties(), "{}"u8.ToArray());
        }
    }
}
