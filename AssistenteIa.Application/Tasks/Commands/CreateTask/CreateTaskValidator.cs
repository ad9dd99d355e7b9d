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
        try
        {
            json = JsonSerializer.Serialize(payload, JsonDefaults.Options);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or JsonException)
        {
            // A lone surrogate (invalid UTF-16) cannot be written as JSON.
            errors["payload"] = ["The payload contains text that is not valid Unicode."];
        }

        if (json is not null && FindUnstorableText(json) is { } path)
        {
            // PostgreSQL's jsonb refuses the NUL character anywhere in a document.
            errors[path] = ["Text in the payload must not contain the NUL character (\\u0000)."];
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        var size = System.Text.Encoding.UTF8.GetByteCount(json!);
        if (size > options.MaxPayloadBytes)
        {
            throw new PayloadTooLargeException(size, options.MaxPayloadBytes);
        }

        return json!;
    }

    /// <summary>The path of the first string or property name holding a NUL character, or null.</summary>
    private static string? FindUnstorableText(string json)
    {
        if (!json.Contains("\\u0000", StringComparison.Ordinal))
        {
            return null;
        }

        using var document = JsonDocument.Parse(json);
        return Find(document.RootElement, "payload");

        static string? Find(JsonElement element, string path)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    return element.GetString()!.Contains('\0', StringComparison.Ordinal) ? path : null;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        if (property.Name.Contains('\0', StringComparison.Ordinal))
                        {
                            return path;
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
}
