using System.Text.Json;

namespace AssistenteIa.Application.Tasks;

/// <summary>What the client asks the model to do. Stored as <c>Tasks.PayloadJson</c>.</summary>
public sealed record TaskPayload
{
    public string Prompt { get; init; } = "";
    public string? Context { get; init; }

    /// <summary>A model name to use instead of the configured default.</summary>
    public string? Model { get; init; }
    public Dictionary<string, JsonElement>? Parameters { get; init; }

    /// <summary>Honoured by the local provider only: latency and failure injection.</summary>
    public SimulationOptions? Simulation { get; init; }
}

public sealed record SimulationOptions
{
    public int LatencyMs { get; init; }
    public int FailAttempts { get; init; }
    public SimulatedFailure Failure { get; init; } = SimulatedFailure.Transient;
}

public enum SimulatedFailure
{
    Transient,
    Permanent,
}
