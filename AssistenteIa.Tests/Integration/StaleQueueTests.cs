using AssistenteIa.Application.Dispatching;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Infrastructure.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RabbitMQ.Client;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// The requeuer announces again the tasks whose work message is gone, judged by the real broker's queue: not those of a
/// backlog still waiting in it (each would get a second message, and another every few minutes while the backlog
/// lasts), and all those of an emptied queue in one round (a batch each housekeeping interval took hours to recover a
/// purged queue of thousands).
/// </summary>
public sealed class StaleQueueTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>, IAsyncLifetime
{
    private static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task A_backlog_still_waiting_in_the_queue_is_not_announced_again_and_once_the_queue_is_emptied_it_is()
    {
        var tenant = SeededTasks.NewTenant("stale");
        var now = DateTimeOffset.UtcNow;
        var tasks = Enumerable.Range(0, 3).Select(i => SeededTasks.Queued(tenant, at: now.AddMinutes(-30 + i))).ToList();
        await isolated.SaveAsync(tasks, []);
        await PublishWorkAsync(count: 3);

        Assert.Equal(0, await RequeueAsync(batchSize: 100));
        Assert.Equal([2L, 2L, 2L], await isolated.EventSequencesAsync(tasks));
        Assert.Equal(3, await new RabbitMqWorkQueue(isolated.Services).CountWaitingAsync(CancellationToken.None));

        // The messages are lost (purged): the tasks still Queued are announced again, and their new messages wait.
        await isolated.PurgeWorkQueueAsync();
        Assert.Equal(3, await RequeueAsync(batchSize: 100));
        Assert.Equal([3L, 3L, 3L], await isolated.EventSequencesAsync(tasks));
        await Eventually.UntilAsync(() => new RabbitMqWorkQueue(isolated.Services).CountWaitingAsync(CancellationToken.None), n => n == 3, TimeSpan.FromSeconds(10), "the three new work messages in tasks-queued");
    }

    [Fact]
    public async Task A_deleted_queue_holds_nothing_and_every_stale_task_is_announced_in_one_round_past_the_batch_size()
    {
        var tenant = SeededTasks.NewTenant("stale");
        var now = DateTimeOffset.UtcNow;
        var stale = Enumerable.Range(0, 250).Select(i => SeededTasks.Queued(tenant, at: now.AddMinutes(-30).AddMilliseconds(i))).ToList();
        var fresh = SeededTasks.Queued(tenant, at: now);
        await isolated.SaveAsync([.. stale, fresh], []);
        await isolated.DeleteWorkQueueAsync();

        Assert.Equal(250, await RequeueAsync(batchSize: 100));
        Assert.All(await isolated.EventSequencesAsync(stale), sequence => Assert.Equal(3L, sequence));
        Assert.Equal([2L], await isolated.EventSequencesAsync([fresh]));
    }

    public async ValueTask InitializeAsync() => await ClearAsync();

    public async ValueTask DisposeAsync() => await ClearAsync();

    private async Task ClearAsync()
    {
        await Sql.ExecuteAsync(isolated.ConnectionString, """DELETE FROM "OutboxMessages"; DELETE FROM "Tasks";""");
        await isolated.PurgeWorkQueueAsync();
    }

    private async Task<int> RequeueAsync(int batchSize)
    {
        await using var db = isolated.CreateDbContext();
        var requeuer = new RequeueStaleTasksHandler(
            db, isolated.Outbox(db), new RabbitMqWorkQueue(isolated.Services), TimeProvider.System, new RefusedTasks(new FakeTimeProvider()), NullLogger<RequeueStaleTasksHandler>.Instance);
        return await requeuer.HandleAsync(StaleAfter, batchSize, TimeSpan.FromMinutes(1), CancellationToken.None);
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
