using System.ComponentModel.DataAnnotations;
using AssistenteIa.Application.Tasks.Capabilities;
using AssistenteIa.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Integration;

/// <summary>Section <c>Integrations</c>: the limits of the HTTP calls tasks make, and the secrets they may name.</summary>
public sealed class IntegrationsOptions : IValidatableObject
{
    public const string Section = "Integrations";

    /// <summary>The whole call: connecting, sending, and reading the headers and the body (a server that trickles its answer times out too).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The largest response body read; a larger one fails the attempt as <c>ResponseTooLarge</c>.</summary>
    [Range(1, 64 * 1024 * 1024)]
    public int MaxResponseBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Secrets by name. A task names one in <c>payload.request.secretHeaders</c>; its value is added to the request by
    /// the worker and never enters the payload, the artifacts, the errors or the logs.
    /// </summary>
    public Dictionary<string, IntegrationSecret> Secrets { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The secret called <paramref name="name"/> (names compare without case, as configuration keys do).</summary>
    public IntegrationSecret? Secret(string name) =>
        Secrets.TryGetValue(name, out var secret) ? secret
            : Secrets.FirstOrDefault(s => s.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    private readonly List<string> _configurationErrors = [];

    /// <summary>
    /// The secrets' lists written as one value (<c>Integrations__Secrets__partner__Tenants=tenant-a,tenant-b</c>), which
    /// the configuration binder leaves out: a secret's tenants left out would make it every tenant's, its ports any port.
    /// </summary>
    public void ReadOneValueLists(IConfigurationSection secrets)
    {
        foreach (var section in secrets.GetChildren())
        {
            if (Secret(section.Key) is not { } secret)
            {
                continue;
            }

            if (ConfigurationLists.OneValue(section, nameof(IntegrationSecret.AllowedHosts), _configurationErrors) is { } hosts)
            {
                secret.AllowedHosts = [.. hosts];
            }

            if (ConfigurationLists.OneValue(section, nameof(IntegrationSecret.Tenants), _configurationErrors) is { } tenants)
            {
                secret.Tenants = [.. tenants];
            }

            if (ConfigurationLists.Ports(section, nameof(IntegrationSecret.AllowedPorts), _configurationErrors) is { } ports)
            {
                secret.AllowedPorts = [.. ports];
            }
        }
    }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var error in _configurationErrors)
        {
            yield return new ValidationResult(error, [nameof(Secrets)]);
        }

        foreach (var (name, secret) in Secrets)
        {
            // The value goes into a header: a line break would let it add headers of its own.
            if (!Contract.IsName(name) || string.IsNullOrEmpty(secret.Value) || secret.Value.Any(char.IsControl))
            {
                yield return new ValidationResult(
                    $"Integrations:Secrets:{name} must have a name of letters, digits, '-', '_' and '.', and a Value without control characters.",
                    [nameof(Secrets)]);
            }

            if (secret.AllowedHosts.Count == 0 || secret.AllowedHosts.Any(string.IsNullOrWhiteSpace))
            {
                yield return new ValidationResult(
                    $"Integrations:Secrets:{name}:AllowedHosts must list the hosts the secret may be sent to: a secret any task could send anywhere is anyone's.",
                    [nameof(Secrets)]);
            }
        }
    }
}

/// <summary>A secret for integration calls, and where and by whom it may be used.</summary>
public sealed class IntegrationSecret
{
    public string Value { get; set; } = "";

    /// <summary>Hosts the secret may be sent to: a name (<c>api.partner.com</c>), or <c>*.partner.com</c> for its subdomains.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>The tenants that may name the secret; empty for every tenant.</summary>
    public List<string> Tenants { get; set; } = [];

    public bool AllowsTenant(string tenantId) => Tenants.Count == 0 || Tenants.Contains(tenantId, StringComparer.Ordinal);

    /// <summary>
    /// Whether the secret may travel in cleartext (<c>http</c>). False by default: anyone on the path would read it.
    /// Meant for a loopback test server, never for a partner across a network.
    /// </summary>
    public bool AllowHttp { get; set; }

    /// <summary>
    /// The ports the secret may be sent to; empty for any port of an allowed host. A port of a public host must also be
    /// one of <c>Outbound:AllowedPorts</c> (80 and 443 unless configured), or the guard refuses the call.
    /// </summary>
    public List<int> AllowedPorts { get; set; } = [];

    public bool AllowsHost(string host) => AllowedHosts.Any(allowed =>
        allowed.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(allowed[1..], StringComparison.OrdinalIgnoreCase) && host.Length > allowed.Length - 1
            : host.Equals(allowed, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Whether the secret may be sent to <paramref name="url"/>: an allowed host, over https (or http when
    /// <see cref="AllowHttp"/>), on an allowed port when ports are listed. The host alone is not enough: the same host
    /// over http hands the secret to whoever is on the path.
    /// </summary>
    public bool AllowsUrl(Uri url) =>
        (url.Scheme == Uri.UriSchemeHttps || (AllowHttp && url.Scheme == Uri.UriSchemeHttp))
        && (AllowedPorts.Count == 0 || AllowedPorts.Contains(url.Port))
        && AllowsHost(url.IdnHost);
}
