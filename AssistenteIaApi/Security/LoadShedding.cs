using System.ComponentModel.DataAnnotations;
using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.Security;

/// <summary>
/// Section <c>LoadShedding</c>: how much work one API instance takes on at once. Past its capacity an instance without
/// a limit let every request wait for a database connection, up to the connection string's <c>Timeout</c> (15 s), and
/// answered 503 only then: clients waited, retried, and the backlog grew. With it, at most
/// <see cref="MaxConcurrentRequests"/> API actions run, <see cref="QueueLimit"/> more wait their turn (oldest first),
/// and the next one is refused at once: 503 with <c>Retry-After</c>, nothing done. One tenant holds at most
/// <see cref="MaxConcurrentRequestsPerTenant"/> of the places and of the room: its other requests wait in a room of
/// its own (as large, holding no place of the instance), past which they are refused with 429, so a tenant's flood,
/// or its slow requests, cannot take the instance from the others. The per-tenant rate limit
/// (<see cref="RateLimitOptions"/>) applies before.
/// </summary>
public sealed class LoadSheddingOptions : IValidatableObject
{
    public const string Section = "LoadShedding";

    /// <summary>
    /// API actions one instance runs at once; 0 turns shedding off. Event streams are not counted. Keep it below the
    /// API's connection pool (32): streams' catch-ups, health checks and background work use the pool too.
    /// </summary>
    [Range(0, 100_000)]
    public int MaxConcurrentRequests { get; set; } = 24;

    /// <summary>Of those places (running or waiting for one), how many one tenant may hold.</summary>
    [Range(1, 100_000)]
    public int MaxConcurrentRequestsPerTenant { get; set; } = 12;

    /// <summary>Requests that wait for one of the places; the next is refused. A tenant's own room is as large.</summary>
    [Range(0, 1_000_000)]
    public int QueueLimit { get; set; } = 256;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxConcurrentRequests > 0 && MaxConcurrentRequestsPerTenant > MaxConcurrentRequests)
        {
            yield return new ValidationResult(
                $"LoadShedding:MaxConcurrentRequestsPerTenant ({MaxConcurrentRequestsPerTenant}) must not exceed MaxConcurrentRequests ({MaxConcurrentRequests}).",
                [nameof(MaxConcurrentRequestsPerTenant)]);
        }
    }
}

/// <summary>
/// Marks an endpoint whose request stays open (an event stream): it is not counted against
/// <see cref="LoadSheddingOptions.MaxConcurrentRequests"/>, or it would hold a place for as long as it is open.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class)]
public sealed class LongLivedRequestAttribute : Attribute;

public static class LoadShedding
{
    public static IServiceCollection AddLoadShedding(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LoadSheddingOptions>().Bind(configuration.GetSection(LoadSheddingOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<Admission>();
        services.Configure<MvcOptions>(mvc => mvc.Filters.AddService<Admission>());
        return services;
    }

    /// <summary>
    /// Every API action takes a place of its tenant's share, then a place of the instance, waits for them or is
    /// refused. An action filter, not a middleware: the request's body is read (model binding) before and the answer
    /// written to the client after the places are held, so a slow client cannot hold places while nothing runs. The
    /// container disposes of the limiters.
    /// </summary>
    public sealed class Admission : IAsyncActionFilter, IDisposable
    {
        public const string MeterName = "AssistenteIa.Api";

        private readonly ConcurrencyLimiter? _limiter;
        private readonly PartitionedRateLimiter<string>? _tenants;
        private readonly LoadSheddingOptions _settings;
        private readonly Meter _meter;
        private readonly Counter<long> _shed;
        private volatile bool _disposed;

        public Admission(IOptions<LoadSheddingOptions> options, IMeterFactory meterFactory)
        {
            _settings = options.Value;
            if (_settings.MaxConcurrentRequests > 0)
            {
                _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
                {
                    PermitLimit = _settings.MaxConcurrentRequests,
                    QueueLimit = _settings.QueueLimit,
                    QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                });
                _tenants = PartitionedRateLimiter.Create<string, string>(tenant => RateLimitPartition.GetConcurrencyLimiter(tenant, _ => new ConcurrencyLimiterOptions
                {
                    PermitLimit = _settings.MaxConcurrentRequestsPerTenant,
                    QueueLimit = _settings.QueueLimit,
                    QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                }));
            }

            // What an operator watches: requests refused (the instance needs company) and the room filling up before.
            _meter = meterFactory.Create(MeterName);
            _shed = _meter.CreateCounter<long>("assistenteia.api.requests.shed", "{request}", "API requests refused at once because the instance (503) or the tenant's share of it (429) was at capacity (LoadShedding).");
            _meter.CreateObservableGauge("assistenteia.api.requests.waiting", () => GetStatistics()?.CurrentQueuedCount ?? 0, "{request}", "API requests waiting for a place of the instance (LoadShedding:QueueLimit at most).");
        }

        public async Task OnActionExecutionAsync(ActionExecutingContext context, ActionExecutionDelegate next)
        {
            if (_limiter is null || _tenants is null || context.ActionDescriptor.EndpointMetadata.OfType<LongLivedRequestAttribute>().Any())
            {
                await next();
                return;
            }

            var http = context.HttpContext;
            var tenant = http.User.Identity?.IsAuthenticated == true ? http.User.TenantId() : "";
            try
            {
                using var share = await _tenants.AcquireAsync(tenant, 1, http.RequestAborted);
                if (!share.IsAcquired)
                {
                    Refuse(context, StatusCodes.Status429TooManyRequests, "Too many requests", $"This tenant already has {_settings.MaxConcurrentRequestsPerTenant} requests running on this instance and as many waiting; nothing was done. Retry in a moment.");
                    return;
                }

                using var place = await _limiter.AcquireAsync(1, http.RequestAborted);
                if (!place.IsAcquired)
                {
                    Refuse(context, StatusCodes.Status503ServiceUnavailable, "Service unavailable", "This instance is at capacity; nothing was done. Retry in a moment (a create with the same Idempotency-Key).");
                    return;
                }

                await next();
            }
            catch (ObjectDisposedException) when (!context.HttpContext.RequestAborted.IsCancellationRequested && _disposed)
            {
                // The host is stopping and has let go of the limiters: this request was not run.
                Refuse(context, StatusCodes.Status503ServiceUnavailable, "Service unavailable", "This instance is stopping; nothing was done. Retry in a moment.");
            }
        }

        /// <summary>Places free and requests waiting now, for the instance; null when shedding is off.</summary>
        public RateLimiterStatistics? GetStatistics() => _limiter?.GetStatistics();

        /// <summary>The same for one tenant's share (<c>""</c>: requests without a tenant).</summary>
        public RateLimiterStatistics? GetStatistics(string tenant) => _tenants?.GetStatistics(tenant);

        public void Dispose()
        {
            _disposed = true;
            _limiter?.Dispose();
            _tenants?.Dispose();
            _meter.Dispose();
        }

        private void Refuse(ActionExecutingContext context, int status, string title, string detail)
        {
            _shed.Add(1, new KeyValuePair<string, object?>("http.response.status_code", status));
            var http = context.HttpContext;
            http.Response.Headers.RetryAfter = "1";
            var factory = http.RequestServices.GetRequiredService<Microsoft.AspNetCore.Mvc.Infrastructure.ProblemDetailsFactory>();
            context.Result = new ObjectResult(factory.CreateProblemDetails(http, status, title, detail: detail))
            {
                StatusCode = status,
                ContentTypes = { "application/problem+json" },
            };
        }
    }
}
