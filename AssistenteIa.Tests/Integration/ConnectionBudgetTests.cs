using System.Net;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// A flood of requests from one tenant: its share of the API's places runs, some wait, the rest are refused at once
/// (429, Retry-After), none fails; the API opens few connections (it once opened Npgsql's default 100, a default
/// PostgreSQL's whole <c>max_connections</c>, and left the workers "too many clients"), and each service names its
/// sessions, so an operator sees who holds what.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class ConnectionBudgetTests(AppFixture fixture)
{
    private const int ApiPool = 32;
    private const int Requests = 240;

    [Fact]
    public async Task A_flood_from_one_tenant_runs_its_share_refuses_the_rest_at_once_and_keeps_the_connections_few()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = fixture.CreateApiClient();
        var database = new NpgsqlConnectionStringBuilder(fixture.DatabaseConnectionString).Database;
        var seen = new Dictionary<string, long>();

        // The flood starts only once the sampler has looked, and the sampler looks once more after the flood: a flood
        // refused fast on a loaded host once ended before the sampler's own connection opened, and nothing was seen.
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var looked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sampler = Task.Run(
            async () =>
            {
                await using var connection = new NpgsqlConnection(AppFixture.PostgresServer + ";Pooling=false");
                await connection.OpenAsync(cancellationToken);
                while (true)
                {
                    var last = sampling.IsCancellationRequested;
                    await using (var command = new NpgsqlCommand("SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = @database GROUP BY 1", connection))
                    {
                        command.Parameters.AddWithValue("database", database!);
                        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                        while (await reader.ReadAsync(cancellationToken))
                        {
                            var name = reader.GetString(0);
                            seen[name] = Math.Max(seen.GetValueOrDefault(name), reader.GetInt64(1));
                        }
                    }

                    looked.TrySetResult();
                    if (last)
                    {
                        return;
                    }

                    await Task.Delay(5, CancellationToken.None);
                }
            },
            cancellationToken);
        await await Task.WhenAny(looked.Task, sampler);

        // Each request reads the tenant's tasks and their total: enough work that hundreds at once need many connections.
        var responses = await Task.WhenAll(Enumerable.Range(0, Requests).Select(_ => client.GetAsync("/api/v1/tasks?pageSize=100", cancellationToken)));
        await sampling.CancelAsync();
        await sampler;

        var refused = 0;
        foreach (var response in responses)
        {
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refused++;
                Assert.Equal("1", Assert.Single(response.Headers.GetValues("Retry-After")));
                Assert.Contains("This tenant", (await TaskApi.ProblemAsync(response)).GetProperty("detail").GetString());
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            response.Dispose();
        }

        Assert.InRange(refused, 1, Requests - (3 * AppFixture.TenantShare));
        Assert.InRange(seen.GetValueOrDefault("AssistenteIaApi"), 1, ApiPool);
        Assert.Contains("AssistenteIaApi.ServiceB.Worker", seen.Keys);
        Assert.Contains("AssistenteIaApi.ServiceC.Worker", seen.Keys);
    }

    /// <summary>
    /// A key this instance has not found valid lately (it has just started, or the key is new) is held to the guard on
    /// lookups: 8 at once, 64 waiting, the rest refused (503). A client's burst with one such key used to take all those
    /// places for a single query and have the rest refused as a flood of keys; now the requests share the running query.
    /// </summary>
    [Fact]
    public async Task A_burst_with_a_key_not_checked_lately_waits_for_its_one_lookup_instead_of_being_refused_as_a_flood()
    {
        const int Burst = 160;
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = await fixture.CreateTenantClientAsync("burst");

        // The key's lookup waits on this lock, so the whole burst arrives while it runs.
        await using var hold = await Sql.LockAsync(fixture.DatabaseConnectionString, "ApiKeys", "ACCESS EXCLUSIVE");
        var burst = Enumerable.Range(0, Burst).Select(_ => client.GetAsync("/api/v1/tasks?pageSize=1", cancellationToken)).ToList();
        await hold.WaitUntilWaitedOnAsync("the key's lookup to wait on the lock");

        // The refusals came at once, while the lookup still waited: a window of two seconds shows them if they come.
        await Task.WhenAny(Task.WhenAny(burst), Task.Delay(TimeSpan.FromSeconds(2), cancellationToken));
        var early = burst.Where(r => r.IsCompleted).Select(r => r.Result.StatusCode).ToList();
        Assert.True(early.Count == 0, $"{early.Count} requests were answered while their key's lookup ran: {string.Join(", ", early.Distinct())}");

        await hold.ReleaseAsync();
        var responses = await Task.WhenAll(burst);

        // The tenant's share of the instance runs, the rest of its flood is refused by that share (429): none by the guard.
        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.TooManyRequests }));
        Assert.InRange(responses.Count(r => r.StatusCode == HttpStatusCode.OK), AppFixture.TenantShare, Burst);
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }
}
