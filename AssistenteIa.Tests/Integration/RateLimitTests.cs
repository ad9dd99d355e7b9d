using System.Net;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Tests.Integration;

/// <summary>One tenant's runaway client meets its own limit (429, Retry-After, nothing written); the others do not notice.</summary>
[Collection(AppCollection.Name)]
public sealed class RateLimitTests(AppFixture fixture)
{
    private const string Type = """{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"}""";

    [Fact]
    public async Task A_tenant_past_its_rate_gets_429_with_retry_after_and_other_tenants_are_served()
    {
        using var throttled = fixture.CreateApiClient(await KeyAsync());
        using var other = fixture.CreateApiClient();

        // Its bucket holds ThrottledBurst requests and refills ThrottledRate a second: creates in a tight loop empty it.
        HttpResponseMessage? refused = null;
        var served = 0;
        for (var i = 0; i < 50 && refused is null; i++)
        {
            var response = await TaskApi.PostRawAsync(throttled, "{\"type\":" + Type + ",\"payload\":{\"prompt\":\"as fast as it can\"}}");
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refused = response;
            }
            else
            {
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                served++;
                response.Dispose();
            }
        }

        Assert.NotNull(refused);
        using (refused)
        {
            Assert.InRange(served, AppFixture.ThrottledBurst, 49);
            Assert.True(int.Parse(Assert.Single(refused.Headers.GetValues("Retry-After")), System.Globalization.CultureInfo.InvariantCulture) >= 1);
            var problem = await TaskApi.ProblemAsync(refused);
            Assert.Equal(429, problem.GetProperty("status").GetInt32());
            Assert.Contains("requests per second", problem.GetProperty("detail").GetString());
        }

        // The refused create wrote nothing; another tenant is served meanwhile.
        Assert.Equal(served, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" WHERE "TenantId" = @p0""", AppFixture.ThrottledTenant));
        using var served2 = await other.GetAsync("/api/v1/tasks");
        Assert.Equal(HttpStatusCode.OK, served2.StatusCode);
    }

    private async Task<string> KeyAsync()
    {
        await using var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(fixture.DatabaseConnectionString).Options);
        return await ApiKeyCacheTests.Service(db).CreateKeyAsync(AppFixture.ThrottledTenant, "throttled test", CancellationToken.None);
    }
}
