using System.Text.Json;
using AssistenteIa.Application.Tasks.Capabilities;
using AssistenteIa.Domain.Entities;

namespace AssistenteIa.Application.Tasks.Commands.CreateTask;

/// <summary>Checks a create request before anything is written; returns the payload as it will be stored.</summary>
public static class CreateTaskValidator
{
    public const int MaxIdempotencyKeyLength = 255;
    public const int MaxModelLength = TaskAttempt.MaxModelLength;

    public static bool IsValidIdempotencyKey(string key) => key.Length is > 0 and <= MaxIdempotencyKeyLength && !key.Any(char.IsControl);

    public static string ValidateAndSerialize(CreateTaskCommand command, TaskOptions options, AiOptions ai, CapabilityContracts contracts, DateTimeOffset now)
    {
        var errors = new Dictionary<string, string[]>();

        if (command.IdempotencyKey is { } key && !IsValidIdempotencyKey(key))
        {
            errors["Idempotency-Key"] = [$"The Idempotency-Key header must be 1 to {MaxIdempotencyKeyLength} printable characters."];
        }

        // JSON lets a list hold null where the contracts expect entries; refused here, once, for every list.
        var payloadLists = new (string Path, System.Collections.IList? Items)[]
        {
            ("payload.inputs", command.Payload.Inputs), ("payload.labels", command.Payload.Labels), ("payload.rules", command.Payload.Rules),
            ("payload.languages", command.Payload.Languages), ("payload.detect", command.Payload.Detect),
        };
        var nulls = payloadLists.Where(l => l.Items is not null && l.Items.Cast<object?>().Any(item => item is null)).ToList();
        foreach (var (list, _) in nulls)
        {
            errors[list] = [$"{list} must not contain null."];
        }

        // What the capability's skill needs from the payload (a prompt, inputs, rules, a request…).
        if (nulls.Count == 0)
        {
            contracts.Validate(command.Type.Capability, command.Payload, errors);
        }

        // Stored with the configured spelling, so the provider is asked for the name it knows.
        var payload = command.Payload;
        if (payload.Model is { } model)
        {
            if (model.Length <= MaxModelLength && ai.ConfiguredName(model) is { } configured)
            {
                payload = payload with { Model = configured };
            }
            else
            {
                errors["payload.model"] = [$"payload.model must be one of the configured models: {string.Join(", ", ai.AllowedModels())}."];
            }
        }

        if (command.MaxAttempts is { } max && max is < 1 or > AiTask.MaxAttemptsLimit)
        {
            errors["maxAttempts"] = [$"maxAttempts must be between 1 and {AiTask.MaxAttemptsLimit}."];
        }

        if (command.ScheduledAt is { } at && (at < now.AddMinutes(-5) || at > now.AddDays(365)))
        {
            errors["scheduledAt"] = ["scheduledAt must be a time from now up to one year ahead."];
        }

        if (command.Payload.Simulation is { } simulation && (simulation.LatencyMs is < 0 or > 600_000 || simulation.FailAttempts is < 0 or > 100))
        {
            errors["payload.simulation"] = ["simulation.latencyMs must be 0..600000 and simulation.failAttempts 0..100."];
        }

        string? json = null;
        byte[]? utf8 = null;
        try
        {
            utf8 = JsonSerializer.SerializeToUtf8Bytes(payload, JsonDefaults.Options);
            json = System.Text.Encoding.UTF8.GetString(utf8);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or JsonException)
        {
            // A lone surrogate (invalid UTF-16) cannot be written as JSON.
            errors["payload"] = ["The payload contains text that is not valid Unicode."];
        }

        var numbersGrowth = 0L;
        if (json is not null && FindUnstorable(json, utf8!, out numbersGrowth) is { } unstorable)
        {
            errors[unstorable.Path] = [unstorable.Error];
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        // As stored: numeric prints every digit an exponent stands for ("1e300" takes 301 characters).
        var size = (int)Math.Min(int.MaxValue, utf8!.Length + numbersGrowth);
        if (size > options.MaxPayloadBytes)
        {
            throw new PayloadTooLargeException(size, options.MaxPayloadBytes);
        }

        return json!;
    }

    /// <summary>Mantissa digits a payload number may have at most (a double keeps 17).</summary>
    public const int MaxNumberDigits = 1_000;

    /// <summary>The largest power of ten a payload number's leading digit may reach, either way: about a double's range.</summary>
    public const int MaxNumberMagnitude = 308;

    private const string NulError = "Text in the payload must not contain the NUL character (\\u0000).";

    private static readonly string NumberError =
        $"Numbers in the payload must have at most {MaxNumberDigits:N0} digits and, unless zero, a magnitude from 1e-{MaxNumberMagnitude} up to (not including) 1e{MaxNumberMagnitude + 1}.";

    /// <summary>
    /// The first part of the payload PostgreSQL's jsonb would refuse, or store blown up, with its path; null when there
    /// is none. It refuses the NUL character in text; it keeps numbers as <c>numeric</c>, which fails beyond 131,072
    /// digits before the point or 16,383 after it and writes out every digit an exponent stands for ("1e100000" is
    /// stored as 100,001 characters), so numbers are held to about a double's range and <see cref="MaxNumberDigits"/>, and
    /// the payload's size limit counts them as stored.
    /// </summary>
    private static (string Path, string Error)? FindUnstorable(string json, byte[] utf8, out long numbersGrowth)
    {
        // The numbers' pass runs first and always: the size limit needs their growth even when the text check has more to do.
        if (AllNumbersStorable(utf8, out numbersGrowth) && !json.Contains("\\u0000", StringComparison.Ordinal))
        {
            return null;
        }

        using var document = JsonDocument.Parse(json);
        return Find(document.RootElement, "payload");

        static (string Path, string Error)? Find(JsonElement element, string path)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    return element.GetString()!.Contains('\0', StringComparison.Ordinal) ? (path, NulError) : null;
                case JsonValueKind.Number:
                    return IsStorableNumber(element.GetRawText()) ? null : (path, NumberError);
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        if (property.Name.Contains('\0', StringComparison.Ordinal))
                        {
                            return (path, NulError);
                        }

                        if (Find(property.Value, $"{path}.{property.Name}") is { } found)
                        {
                            return found;
                        }
                    }

                    return null;
                case JsonValueKind.Array:
                    var index = 0;
                    foreach (var item in element.EnumerateArray())
                    {
                        if (Find(item, $"{path}[{index++}]") is { } found)
                        {
                            return found;
                        }
                    }

                    return null;
                default:
                    return null;
            }
        }
    }

    /// <summary>
    /// The cheap pass every payload gets: one read of its tokens, no document built. Also how many more bytes than
    /// sent its numbers take as stored.
    /// </summary>
    private static bool AllNumbersStorable(byte[] utf8, out long growth)
    {
        growth = 0;
        Span<char> text = stackalloc char[64];
        var reader = new Utf8JsonReader(utf8);
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.Number)
            {
                continue;
            }

            var raw = reader.ValueSpan;
            var chars = raw.Length <= text.Length ? text[..raw.Length] : new char[raw.Length];
            System.Text.Encoding.ASCII.GetChars(raw, chars);
            if (StoredLength(chars) is not { } stored)
            {
                return false;
            }

            growth += Math.Max(0, stored - raw.Length);
        }

        return true;
    }

    /// <summary>
    /// Whether PostgreSQL stores the JSON number (already valid JSON) within the rule: at most
    /// <see cref="MaxNumberDigits"/> mantissa digits and its leading digit at a power of ten within
    /// ±<see cref="MaxNumberMagnitude"/> (a zero: its exponent).
    /// </summary>
    public static bool IsStorableNumber(ReadOnlySpan<char> number) => StoredLength(number) is not null;

    /// <summary>
    /// How many characters the number takes as stored (numeric never writes an exponent: "1e3" is "1000", "1e-3"
    /// "0.001"), or null when it breaks the rule of <see cref="IsStorableNumber"/>.
    /// </summary>
    public static int? StoredLength(ReadOnlySpan<char> number)
    {
        var exponentAt = number.IndexOfAny('e', 'E');
        var mantissa = exponentAt < 0 ? number : number[..exponentAt];
        var exponent = 0;
        if (exponentAt >= 0)
        {
            var text = number[(exponentAt + 1)..];
            var sign = 1;
            if (text.Length > 0 && text[0] is '+' or '-')
            {
                sign = text[0] == '-' ? -1 : 1;
                text = text[1..];
            }

            // Leading zeros are valid JSON ("1e007"); past five digits no exponent can pass the bounds below, and
            // refusing it here keeps the parse from overflowing.
            text = text.TrimStart('0');
            if (text.Length > 5)
            {
                return null;
            }

            exponent = text.Length == 0 ? 0 : sign * int.Parse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
        }

        var negative = mantissa.StartsWith('-');
        mantissa = negative ? mantissa[1..] : mantissa;
        var point = mantissa.IndexOf('.');
        var integer = point < 0 ? mantissa : mantissa[..point];
        var fraction = point < 0 ? [] : mantissa[(point + 1)..];
        if (integer.Length + fraction.Length > MaxNumberDigits)
        {
            return null;
        }

        // Digits after the point as stored: the fraction's, moved by the exponent.
        var scale = Math.Max(0, fraction.Length - exponent);
        var scaleText = scale > 0 ? 1 + scale : 0;

        // The power of ten of the leading non-zero digit: 123 → 2, 0.05 → -2, then moved by the exponent.
        var significantInteger = integer.TrimStart('0');
        int leading;
        if (significantInteger.Length > 0)
        {
            leading = significantInteger.Length - 1;
        }
        else if (fraction.IndexOfAnyExcept('0') is var firstDigit and >= 0)
        {
            leading = -(firstDigit + 1);
        }
        else
        {
            // Zero: numeric keeps the scale an exponent gives it ("0e-1000" is stored with 1,000 zeros).
            return Math.Abs(exponent) <= MaxNumberMagnitude ? 1 + scaleText : null;
        }

        var magnitude = leading + exponent;
        if (Math.Abs(magnitude) > MaxNumberMagnitude)
        {
            return null;
        }

        return (negative ? 1 : 0) + Math.Max(1, magnitude + 1) + scaleText;
    }
}
