using System.ComponentModel.DataAnnotations;
using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.Security;

/// <summary>
/// Section <c>LoadShedding</c>: how much work one API instance takes on at once, across tenants. Past its capacity an
/// instance without a limit let every request wait for a database connection, up to the connection string's
/// <c>Timeout</c> (15 s), and answered 503 only then: clients waited, retried, and the backlog grew. With it, at most
/// <see cref="MaxConcurrentRequests"/> API actions run, <see cref="QueueLimit"/> more wait their turn (oldest first),
/// and the next one is refused at once: 503 with <c>Retry-After</c>, nothing done. The per-tenant limits
/// (<see cref="RateLimitOptions"/>, 429) apply first, so one tenant's flood is refused as its own.
/// </summary>
public sealed class LoadSheddingOptions
{
    public const string Section = "LoadShedding";

    /// <summary>API actions one instance runs at once; 0 turns shedding off. Event streams are not counted.</summary>
    [Range(0, 100_000)]
    public int MaxConcurrentRequests { get; set; } = 64;

    /// <summary>Requests that wait for one of those places; the next is refused.</summary>
    [Range(0, 1_000_000)]
    public int QueueLimit { get; set; } = 256;
}

/// <summary>
/// Marks an endpoint whose request stays open (an event stream): it holds no database connection while open, so it is
/// not counted against <see cref="LoadSheddingOptions.MaxConcurrentRequests"/>.
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
    /// Every API action takes a place, waits for one or is refused. An action filter, not a middleware: the request's
    /// body is read (model binding) before and the answer written to the client after the place is held, so a slow
    /// client cannot hold places while nothing runs. The container disposes of the limiter.
    /// </summary>
    public sealed class Admission : IAsyncActionFilter, IDisposable
    {
        public const string MeterName = "AssistenteIa.Api";

        private readonly ConcurrencyLimiter? _limiter;
        private readonly Meter _meter;
        private readonly Counter<long> _shed;

        public Admission(IOptions<LoadSheddingOptions> options, IMeterFactory meterFactory)
        {
            var settings = options.Value;
            _limiter = settings.MaxConcurrentRequests == 0 ? null : new ConcurrencyLimiter(new ConcurrencyLimiterOptions
            {
                PermitLimit = settings.MaxConcurrentRequests,
                QueueLimit = settings.QueueLimit,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            });

            // What an operator watches: requests refused (the instance needs company) and the room filling up before.
            _meter = meterFactory.Create(MeterName);
            _shed = _meter.CreateCounter<long>("assistenteia.api.requests.shed", "{request}", "API requests refused at once (503) because the instance was at capacity (LoadShedding).");
            _meter.CreateObservableGauge("assistenteia.api.requests.waiting", () => GetStatistics()?.CurrentQueuedCount ?? 0, "{request}", "API requests waiting for a place (LoadShedding:QueueLimit at most).");
        }

        public async Task OnActionExecutionAsync(ActionExecutingContext context, ActionExecutionDelegate next)
        {
            if (_limiter is null || context.ActionDescriptor.EndpointMetadata.OfType<LongLivedRequestAttribute>().Any())
            {
                await next();
                return;
            }

            var http = context.HttpContext;
            using var lease = await _limiter.AcquireAsync(1, http.RequestAborted);
            if (lease.IsAcquired)
            {
                await next();
                return;
            }

            _shed.Add(1);
            http.Response.Headers.RetryAfter = "1";
            var factory = http.RequestServices.GetRequiredService<Microsoft.AspNetCore.Mvc.Infrastructure.ProblemDetailsFactory>();
            context.Result = new ObjectResult(factory.CreateProblemDetails(
                http,
                StatusCodes.Status503ServiceUnavailable,
                "Service unavailable",
                detail: "This instance is at capacity; nothing was done. Retry in a moment (a create with the same Idempotency-Key)."))
            {
                StatusCode = StatusCodes.Status503ServiceUnavailable,
                ContentTypes = { "application/problem+json" },
            };
        }

        /// <summary>Places free and requests waiting now; null when shedding is off.</summary>
        public RateLimiterStatistics? GetStatistics() => _limiter?.GetStatistics();

        public void Dispose()
        {
            _limiter?.Dispose();
            _meter.Dispose();
        }
    }
}
