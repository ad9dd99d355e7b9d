using System.ComponentModel.DataAnnotations;
using AssistenteIa.Application.Tasks.Capabilities;

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
    /// Secret name → value. A task names a secret in <c>payload.request.secretHeaders</c>; its value is added to the
    /// request by the worker and never enters the payload, the artifacts, the errors or the logs.
    /// </summary>
    public Dictionary<string, string> Secrets { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The value of the secret called <paramref name="name"/> (names compare without case, as configuration keys do).</summary>
    public string? Secret(string name) =>
        Secrets.TryGetValue(name, out var value) ? value
            : Secrets.FirstOrDefault(s => s.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, value) in Secrets)
        {
            // The secret goes into a header: a line break would let it add headers of its own.
            if (!Contract.IsName(name) || string.IsNullOrEmpty(value) || value.Any(char.IsControl))
            {
                yield return new ValidationResult(
                    $"Integrations:Secrets:{name} must have a name of letters, digits, '-', '_' and '.', and a non-empty value without control characters.",
                    [nameof(Secrets)]);
            }
        }
    }
}
