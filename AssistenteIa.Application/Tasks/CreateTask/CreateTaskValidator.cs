using System.Text.Json;
using AssistenteIa.Domain.Tasks;

namespace AssistenteIa.Application.Tasks.CreateTask;

/// <summary>Checks a create request before anything is written; returns the payload as it will be stored.</summary>
public static class CreateTaskValidator
{
    public const int MaxIdempotencyKeyLength = 255;

    public static string ValidateAndSerialize(CreateTaskCommand command, TaskOptions options, DateTimeOffset now)
    {
        var errors = new Dictionary<string, string[]>();

        if (command.IdempotencyKey is { } key && (key.Length is 0 or > MaxIdempotencyKeyLength || key.Any(char.IsControl)))
        {
            errors["Idempotency-Key"] = [$"The Idempotency-Key header must be 1 to {MaxIdempotencyKeyLength} printable characters."];
        }

        if (string.IsNullOrWhiteSpace(command.Payload.Prompt))
        {
            errors["payload.prompt"] = ["The prompt is required."];
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

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        var json = JsonSerializer.Serialize(command.Payload, JsonDefaults.Options);
        var size = System.Text.Encoding.UTF8.GetByteCount(json);
        if (size > options.MaxPayloadBytes)
        {
            throw new PayloadTooLargeException(size, options.MaxPayloadBytes);
        }

        return json;
    }
}
