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

        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sampler = Task.Run(
            async () =>
            {
                await using var connection = new NpgsqlConnection(AppFixture.PostgresServer + ";Pooling=false");
                await connection.OpenAsync(cancellationToken);
                while (!sampling.IsCancellationRequested)
                {
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

                    await Task.Delay(5, CancellationToken.None);
                }
            },
            cancellationToken);

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
}
