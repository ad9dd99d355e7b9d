using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// Event streams are not counted by the API's load shedding, so their database reads are bounded on their own
/// (<c>TaskEvents:MaxConcurrentCatchUps</c>, 4, of which <c>MaxConcurrentCatchUpsPerTenant</c>, 1, for one tenant):
/// after an instance restarts, hundreds of pages resume at once, and their reads took connections the API's actions
/// needed. The reads are held up by a lock on the outbox for the test.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class StreamReadsTests(AppFixture fixture)
{
    private const int MaxConcurrentReads = 4;
    private const int Streams = MaxConcurrentReads + 4;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Streams_resuming_at_once_read_the_database_a_few_at_a_time()
    {
        // One stream per tenant, so only the instance's bound holds them.
        var clients = new List<HttpClient>();
        for (var i = 0; i < Streams; i++)
        {
            clients.Add(await fixture.CreateTenantClientAsync("streams"));
        }

        await using var held = await HoldOutboxAsync();
        var opened = clients.Select(held.Resume).ToList();

        // The first reads reach the lock and wait there, each on a connection; the others wait for a turn, on none.
        // However long they wait, no more join them (without the bound all of them would be there within moments).
        Assert.Equal(MaxConcurrentReads, await held.MostReadsWaitingAsync(MaxConcurrentReads));

        await held.ReleaseAndExpectResumedAsync(opened);
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public async Task One_tenants_streams_resuming_at_once_read_one_at_a_time_and_leave_the_others_turns()
    {
        using var flooding = await fixture.CreateTenantClientAsync("streams");
        using var other = await fixture.CreateTenantClientAsync("streams");
        await using var held = await HoldOutboxAsync();
        var opened = Enumerable.Range(0, Streams).Select(_ => held.Resume(flooding)).ToList();
        Assert.Equal(1, await held.MostReadsWaitingAsync(1));

        // Another tenant's resume reads beside them, though all of the first tenant's came before it.
        opened.Add(held.Resume(other));
        Assert.Equal(2, await held.MostReadsWaitingAsync(2));

        await held.ReleaseAndExpectResumedAsync(opened);
    }

    /// <summary>Locks the outbox until disposed or released: every stream's read waits on the lock.</summary>
    private async Task<HeldOutbox> HoldOutboxAsync()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "resume me"));
        var lastEventId = await fixture.ScalarAsync<Guid>(
            """SELECT "Id" FROM "OutboxMessages" WHERE "TaskId" = @p0 AND "Destination" = 'task-events' ORDER BY "CreatedAt" LIMIT 1""", task.Id);

        var locker = new NpgsqlConnection(fixture.DatabaseConnectionString);
        await locker.OpenAsync(cancellationToken);
        var watcher = new NpgsqlConnection(fixture.DatabaseConnectionString);
        await watcher.OpenAsync(cancellationToken);
        var hold = await locker.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand("""LOCK TABLE "OutboxMessages" IN ACCESS EXCLUSIVE MODE""", locker, hold))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        return new HeldOutbox(locker, watcher, hold, lastEventId);
    }

    private sealed class HeldOutbox(NpgsqlConnection locker, NpgsqlConnection watcher, NpgsqlTransaction hold, Guid lastEventId) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _streams = new();

        /// <summary>Opens a stream resuming after the task's first event (another tenant's id reads as much: it is looked up, then a resync).</summary>
        public Task<HttpResponseMessage> Resume(HttpClient client)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/tasks/events");
            request.Headers.Add("Last-Event-ID", lastEventId.ToString());
            return client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _streams.Token);
        }

        /// <summary>Waits until <paramref name="expected"/> reads wait on the lock, then watches a while longer; the most seen.</summary>
        public async Task<long> MostReadsWaitingAsync(int expected)
        {
            using var deadline = new CancellationTokenSource(Deadline);
            var most = 0L;
            while (most < expected)
            {
                most = Math.Max(most, await ReadsWaitingAsync(watcher, deadline.Token));
                await Task.Delay(10, deadline.Token);
            }

            for (var i = 0; i < 50; i++)
            {
                most = Math.Max(most, await ReadsWaitingAsync(watcher, deadline.Token));
                await Task.Delay(10, deadline.Token);
            }

            return most;
        }

        /// <summary>With the lock gone every stream resumes.</summary>
        public async Task ReleaseAndExpectResumedAsync(IEnumerable<Task<HttpResponseMessage>> opened)
        {
            await hold.RollbackAsync(TestContext.Current.CancellationToken);
            foreach (var response in await Task.WhenAll(opened).WaitAsync(Deadline, TestContext.Current.CancellationToken))
            {
                Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
                response.Dispose();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _streams.CancelAsync();
            _streams.Dispose();
            await hold.DisposeAsync();
            await locker.DisposeAsync();
            await watcher.DisposeAsync();
        }
    }

    /// <summary>The API's stream reads of the outbox now waiting on the lock.</summary>
    private static async Task<long> ReadsWaitingAsync(NpgsqlConnection watcher, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'AssistenteIaApi' AND wait_event_type = 'Lock'
              AND query ILIKE 'SELECT%' AND query LIKE '%"OutboxMessages"%'
            """,
            watcher);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
