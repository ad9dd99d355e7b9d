using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.Security;

/// <summary>
/// Section <c>RateLimits</c>: how many requests one tenant may make through one API instance, so a tenant's runaway
/// client cannot take the instance (and the queue behind it) from the others. A token bucket per tenant: it holds
/// <see cref="Burst"/> requests and refills <see cref="RequestsPerSecond"/> each second; a request finding it empty is
/// a 429 with <c>Retry-After</c>. Requests without a valid key are refused by authentication and not counted.
/// </summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    /// <summary>0 turns the limit off.</summary>
    [Range(0, 1_000_000)]
    public int RequestsPerSecond { get; set; } = 2_000;

    [Range(1, 10_000_000)]
    public int Burst { get; set; } = 4_000;

    /// <summary>Limits of their own for some tenants (by tenant id), replacing the two above for them.</summary>
    public Dictionary<string, TenantRateLimit> Tenants { get; set; } = [];

    public TenantRateLimit For(string tenantId) =>
        Tenants.TryGetValue(tenantId, out var own) ? own : new TenantRateLimit { RequestsPerSecond = RequestsPerSecond, Burst = Burst };
}

public sealed class TenantRateLimit
{
    [Range(0, 1_000_000)]
    public int RequestsPerSecond { get; set; }

    [Range(1, 10_000_000)]
    public int Burst { get; set; } = 1;
}

public static class TenantRateLimits
{
    public static IServiceCollection AddTenantRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RateLimitOptions>().Bind(configuration.GetSection(RateLimitOptions.Section)).ValidateDataAnnotations()
            // Data annotations do not reach into the dictionary's values: each is checked against its own attributes.
            .Validate(o => o.Tenants.Values.All(t => Validator.TryValidateObject(t, new ValidationContext(t), null, validateAllProperties: true)), "RateLimits:Tenants:<id>: RequestsPerSecond must be 0 to 1,000,000 and Burst 1 to 10,000,000.")
            .ValidateOnStart();
        services.AddRateLimiter(limiter =>
        {
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(Partition);
            limiter.OnRejected = RejectAsync;
        });
        return services;
    }

    private static RateLimitPartition<string> Partition(HttpContext context)
    {
        if (context.User.Identity?.IsAuthenticated != true)
        {
            return RateLimitPartition.GetNoLimiter(string.Empty);
        }

        var tenantId = context.User.TenantId();
        var limit = context.RequestServices.GetRequiredService<IOptions<RateLimitOptions>>().Value.For(tenantId);
        if (limit.RequestsPerSecond == 0)
        {
            return RateLimitPartition.GetNoLimiter(tenantId);
        }

        return RateLimitPartition.GetTokenBucketLimiter(tenantId, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit.Burst,
            TokensPerPeriod = limit.RequestsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }

    private static async ValueTask RejectAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var http = rejected.HttpContext;
        var wait = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
        var limit = http.RequestServices.GetRequiredService<IOptions<RateLimitOptions>>().Value.For(http.User.TenantId());
        await RefusalResponse.WriteAsync(
            http, StatusCodes.Status429TooManyRequests, "Too many requests",
            $"This tenant may make {limit.RequestsPerSecond} requests per second (bursts of {limit.Burst}); retry after {RefusalResponse.Seconds(wait)} s.",
            wait);
    }
}
