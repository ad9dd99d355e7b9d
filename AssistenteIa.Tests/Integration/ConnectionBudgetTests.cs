using System.Net;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// The services keep to their share of the database's connections: a flood of requests no longer lets the API open
/// Npgsql's default 100 (a default PostgreSQL's whole <c>max_connections</c>), which left the workers "too many
/// clients" in the benchmark's overload runs. Each service names its sessions, so an operator sees who holds what.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class ConnectionBudgetTests(AppFixture fixture)
{
    private const int ApiShare = 30;
    private const int Requests = 240;

    [Fact]
    public async Task A_flood_of_requests_holds_at_most_the_apis_share_and_every_service_names_its_sessions()
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

        foreach (var response in responses)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        Assert.InRange(seen.GetValueOrDefault("AssistenteIaApi"), 1, ApiShare);
        Assert.Contains("AssistenteIaApi.ServiceB.Worker", seen.Keys);
        Assert.Contains("AssistenteIaApi.ServiceC.Worker", seen.Keys);
    }
}
