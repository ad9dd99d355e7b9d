using AssistenteIaApi.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Hosting;

/// <summary>A tenant's own rate limit is held to the same bounds as the default one.</summary>
public sealed class RateLimitOptionsTests
{
    [Theory]
    [InlineData("RequestsPerSecond", "-1")]
    [InlineData("RequestsPerSecond", "1000001")]
    [InlineData("Burst", "0")]
    public void A_tenant_limit_out_of_bounds_is_refused(string key, string value)
    {
        var options = Options(new Dictionary<string, string?> { [$"RateLimits:Tenants:t1:{key}"] = value, ["RateLimits:Tenants:t1:Burst"] = key == "Burst" ? value : "5" });
        var error = Assert.Throws<OptionsValidationException>(() => options.Value);
        Assert.Contains("RateLimits:Tenants:<id>", error.Message);
    }

    [Fact]
    public void A_tenant_limit_within_bounds_is_taken()
    {
        var options = Options(new Dictionary<string, string?> { ["RateLimits:Tenants:t1:RequestsPerSecond"] = "0", ["RateLimits:Tenants:t1:Burst"] = "10000000" });
        Assert.Equal(10_000_000, options.Value.For("t1").Burst);
    }

    private static IOptions<RateLimitOptions> Options(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddTenantRateLimits(configuration).BuildServiceProvider().GetRequiredService<IOptions<RateLimitOptions>>();
    }
}
