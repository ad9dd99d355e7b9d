using System.Text.RegularExpressions;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks.Capabilities;

/// <summary>The checks the contracts share: required text, lists of names, inputs.</summary>
public static partial class Contract
{
    public const int MaxInputs = 10;
    public const int MaxUrlLength = 2048;

    public static void Add(IDictionary<string, string[]> errors, string path, string message) =>
        errors[path] = errors.TryGetValue(path, out var existing) ? [.. existing, message] : [message];

    public static void RequirePrompt(TaskPayload payload, IDictionary<string, string[]> errors, CapabilityType capability)
    {
        if (string.IsNullOrWhiteSpace(payload.Prompt))
        {
            Add(errors, "payload.prompt", $"The prompt is required for {capability}.");
        }
    }

    /// <summary>Each input names exactly one source; URLs are absolute http(s), data URIs are base64. Files and hosts are checked by the handler.</summary>
    public static void RequireInputs(TaskPayload payload, IDictionary<string, string[]> errors, CapabilityType capability, int min = 1, int max = MaxInputs)
    {
        var inputs = payload.Inputs ?? [];
        if (inputs.Count < min || inputs.Count > max)
        {
            Add(errors, "payload.inputs", $"{capability} takes {min} to {max} inputs ({{ \"fileId\" }}, {{ \"url\" }} or {{ \"dataUri\" }}).");
            return;
        }

        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            var path = $"payload.inputs[{i}]";
            var sources = (input.FileId is not null ? 1 : 0) + (input.Url is not null ? 1 : 0) + (input.DataUri is not null ? 1 : 0);
            if (sources != 1)
            {
                Add(errors, path, "An input has exactly one of fileId, url or dataUri.");
            }
            else if (input.FileId == Guid.Empty)
            {
                Add(errors, path + ".fileId", "fileId is the id of a file uploaded with POST /api/v1/files.");
            }
            else if (input.Url is { } url
                && (url.Length > MaxUrlLength || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(uri.UserInfo)))
            {
                Add(errors, path + ".url", $"url must be an absolute http or https URL without credentials, up to {MaxUrlLength} characters.");
            }
            else if (input.DataUri is { } dataUri && DataUri.Parse(dataUri) is null)
            {
                Add(errors, path + ".dataUri", "dataUri must be a base64 data URI: data:<media type>;base64,<data>.");
            }
        }
    }

    /// <summary>Every value of <paramref name="values"/> is one of <paramref name="allowed"/> (compared without case).</summary>
    public static void RequireOneOf(IReadOnlyList<string>? values, IReadOnlyCollection<string> allowed, string path, IDictionary<string, string[]> errors)
    {
        if (values is null)
        {
            return;
        }

        if (values.Count == 0 || values.Any(v => !allowed.Contains(v, StringComparer.OrdinalIgnoreCase)))
        {
            Add(errors, path, $"{path} lists one or more of: {string.Join(", ", allowed)}.");
        }
    }

    /// <summary>A name a tenant gives (collection, rule): letters, digits, '-', '_' and '.', 1 to 100 characters.</summary>
    public static bool IsName(string? name) => name is not null && NamePattern().IsMatch(name);

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")]
    private static partial Regex NamePattern();
}

/// <summary>A <c>data:</c> URI with base64 content.</summary>
public sealed record DataUri(string MediaType, byte[] Content)
{
    public static DataUri? Parse(string value)
    {
        if (!value.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var comma = value.IndexOf(',', StringComparison.Ordinal);
        if (comma < 0)
        {
            return null;
        }

        var header = value[5..comma];
        if (!header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        try
        {
            var content = Convert.FromBase64String(value[(comma + 1)..]);
            var mediaType = header[..^";base64".Length];
            return content.Length == 0 ? null : new DataUri(mediaType.Length == 0 ? "application/octet-stream" : mediaType, content);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>LLM_Generation and LLM_Reasoning: a prompt, and optionally context.</summary>
public sealed class PromptContract(CapabilityType capability) : ICapabilityContract
{
    public CapabilityType Capability => capability;

    public void Validate(TaskPayload payload, IDictionary<string, string[]> errors) => Contract.RequirePrompt(payload, errors, capability);
}

/// <summary>LLM_Classification: a prompt and 1 to 50 distinct labels (or none, for positive/neutral/negative).</summary>
public sealed class ClassificationContract : ICapabilityContract
{
    public const int MaxLabels = 50;
    public const int MaxLabelLength = 100;

    public CapabilityType Capability => CapabilityType.LLM_Classification;

    public void Validate(TaskPayload payload, IDictionary<string, string[]> errors)
    {
        Contract.RequirePrompt(payload, errors, Capability);
        if (payload.Labels is { } labels
            && (labels.Count is 0 or > MaxLabels
                || labels.Any(l => string.IsNullOrWhiteSpace(l) || l.Length > MaxLabelLength)
                || labels.Distinct(StringComparer.OrdinalIgnoreCase).Count() != labels.Count))
        {
            Contract.Add(errors, "payload.labels", $"labels lists 1 to {MaxLabels} distinct, non-empty labels of up to {MaxLabelLength} characters.");
        }
    }
}

/// <summary>Vision_OCR: 1 to 10 images or PDFs, and the languages to read.</summary>
public sealed class OcrContract : ICapabilityContract
{
    public static readonly string[] Languages = ["eng", "por"];

    public CapabilityType Capability => CapabilityType.Vision_OCR;

    public void Validate(TaskPayload payload, IDictionary<string, string[]> errors)
    {
        Contract.RequireInputs(payload, errors, Capability);
        Contract.RequireOneOf(payload.Languages, Languages, "payload.languages", errors);
    }
}

/// <summary>Vision_ObjectDetection: 1 to 10 images, and what to look for.</summary>
public sealed class ObjectDetectionContract : ICapabilityContract
{
    public static readonly string[] Detectors = ["face", "eye", "fullbody", "catface", "plate"];

    public CapabilityType Capability => CapabilityType.Vision_ObjectDetection;

    public void Validate(TaskPayload payload, IDictionary<string, string[]> errors)
    {
        Contract.RequireInputs(payload, errors, Capability);
        Contract.RequireOneOf(payload.Detect, Detectors, "payload.detect", errors);
    }
}
