using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// Event streams are not counted by the API's load shedding, so their database reads are bounded on their own
/// (<c>TaskEvents:MaxConcurrentCatchUps</c>, 4): after an instance restarts, hundreds of pages resume at once, and their
/// reads took connections the API's actions needed. The reads are held up by a lock on the outbox for the test.
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
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "resume me"));
        var lastEventId = await fixture.ScalarAsync<Guid>(
            """SELECT "Id" FROM "OutboxMessages" WHERE "TaskId" = @p0 AND "Destination" = 'task-events' ORDER BY "CreatedAt" LIMIT 1""", task.Id);

        await using var locker = new NpgsqlConnection(fixture.DatabaseConnectionString);
        await locker.OpenAsync(cancellationToken);
        await using var watcher = new NpgsqlConnection(fixture.DatabaseConnectionString);
        await watcher.OpenAsync(cancellationToken);
        using var streams = new CancellationTokenSource();
        var opened = new List<Task<HttpResponseMessage>>();
        await using (var hold = await locker.BeginTransactionAsync(cancellationToken))
        {
            await using (var lockCommand = new NpgsqlCommand("""LOCK TABLE "OutboxMessages" IN ACCESS EXCLUSIVE MODE""", locker, hold))
            {
                await lockCommand.ExecuteNonQueryAsync(cancellationToken);
            }

            for (var i = 0; i < Streams; i++)
            {
                var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/tasks/events");
                request.Headers.Add("Last-Event-ID", lastEventId.ToString());
                opened.Add(client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, streams.Token));
            }

            // The first reads reach the lock and wait there, each on a connection; the others wait for a turn, on none.
            using var deadline = new CancellationTokenSource(Deadline);
            var most = 0L;
            while (most < MaxConcurrentReads)
            {
                most = Math.Max(most, await ReadsWaitingAsync(watcher, deadline.Token));
                await Task.Delay(10, deadline.Token);
            }

            // However long they wait, no more join them (without the bound all of them would be there within moments).
            for (var i = 0; i < 50; i++)
            {
                most = Math.Max(most, await ReadsWaitingAsync(watcher, deadline.Token));
                await Task.Delay(10, deadline.Token);
            }

            Assert.Equal(MaxConcurrentReads, most);
            await hold.RollbackAsync(cancellationToken);
        }

        // With the lock gone every stream resumes.
        foreach (var response in await Task.WhenAll(opened).WaitAsync(Deadline, cancellationToken))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        await streams.CancelAsync();
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
