using System.ComponentModel.DataAnnotations;
using AssistenteIa.Domain.Policies;

namespace AssistenteIa.Application.Webhooks;

/// <summary>Section <c>Webhooks</c>: how deliveries are retried, bounded and timed out.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>Attempts per delivery before it is Failed (8 over about 15 hours with the defaults).</summary>
    [Range(1, 50)]
    public int MaxAttempts { get; set; } = 8;

    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(10);

    [Range(1.0, 10.0)]
    public double RetryFactor { get; set; } = 4;

    [Range(typeof(TimeSpan), "00:00:00.010", "7.00:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Each retry delay is moved by up to this fraction either way, so retries of many deliveries spread out.</summary>
    [Range(0.0, 0.9)]
    public double RetryJitter { get; set; } = 0.2;

    /// <summary>A receiver slower than this fails the attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Failed attempts in a row after which an endpoint is disabled.</summary>
    [Range(1, 10_000)]
    public int DisableAfterFailures { get; set; } = 50;

    /// <summary>Deliveries one sender runs at once, over all endpoints.</summary>
    [Range(1, 1000)]
    public int MaxConcurrency { get; set; } = 32;

    /// <summary>Deliveries one sender runs at once to one endpoint: a slow receiver holds no more than this.</summary>
    [Range(1, 100)]
    public int PerEndpointConcurrency { get; set; } = 2;

    /// <summary>
    /// Deliveries one sender runs at once for one tenant, over all its endpoints: a tenant whose receivers answer slowly,
    /// or who registered many endpoints, holds no more than this of <see cref="MaxConcurrency"/>, and the others'
    /// deliveries go out beside its backlog.
    /// </summary>
    [Range(1, 1000)]
    public int PerTenantConcurrency { get; set; } = 8;

    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    [Range(1, 1000)]
    public int MaxEndpointsPerTenant { get; set; } = 20;

    /// <summary>Finished (succeeded or failed) deliveries are deleted after this long.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan DeliveryRetention { get; set; } = TimeSpan.FromDays(14);

    public WebhookRetryPolicy RetryPolicy => new(MaxAttempts, RetryBaseDelay, RetryFactor, RetryMaxDelay, RetryJitter);

    /// <summary>How long a claimed delivery is left to its sender: longer than an attempt can take.</summary>
    public TimeSpan ClaimDuration => (Timeout * 2) + TimeSpan.FromSeconds(5);
}

/// <summary>
/// Section <c>Outbound</c>: which addresses and ports tenant-given URLs may reach (webhooks, integration calls, URL
/// inputs).
/// </summary>
public sealed class OutboundOptions : IValidatableObject
{
    public const string Section = "Outbound";

    /// <summary>The ports of public addresses when <see cref="AllowedPorts"/> is not configured: HTTP's and HTTPS's.</summary>
    public static readonly IReadOnlyList<int> DefaultAllowedPorts = [80, 443];

    /// <summary>Loopback addresses (127.0.0.0/8, ::1): true only in Development and tests.</summary>
    public bool AllowLoopback { get; set; }

    /// <summary>Private, link-local (cloud metadata), carrier-grade NAT and unique-local addresses.</summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>
    /// The ports a URL naming a public address may use (<see cref="DefaultAllowedPorts"/> unless configured, as a list,
    /// <c>Outbound__AllowedPorts__0=443</c>, <c>Outbound__AllowedPorts__1=8443</c>, or as one value,
    /// <c>Outbound__AllowedPorts=443,8443</c>, read where the section is bound; an empty value is no value). Any port would let a tenant use deliveries'
    /// errors (refused, timed out, not HTTP) to map which services listen on any host of the internet, from this
    /// platform's addresses. Loopback (<see cref="AllowLoopback"/>) and the operator's own private networks
    /// (<see cref="AllowPrivateNetworks"/>) are theirs, at any port.
    /// </summary>
    public int[]? AllowedPorts { get; set; }

    public IReadOnlyList<int> EffectiveAllowedPorts => AllowedPorts is { Length: > 0 } ports ? ports : DefaultAllowedPorts;

    private readonly List<string> _configurationErrors = [];

    /// <summary>A mistake in how the section was written, reported when the options are validated (at start).</summary>
    public void AddConfigurationError(string error) => _configurationErrors.Add(error);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var error in _configurationErrors)
        {
            yield return new ValidationResult(error, [nameof(AllowedPorts)]);
        }

        if (AllowedPorts is not null && AllowedPorts.Any(port => port is < 1 or > 65535))
        {
            yield return new ValidationResult("Outbound:AllowedPorts holds ports from 1 to 65535.", [nameof(AllowedPorts)]);
        }
    }
}
