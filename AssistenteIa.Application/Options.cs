using System.ComponentModel.DataAnnotations;

namespace AssistenteIa.Application;

/// <summary>Section <c>Tasks</c>: defaults and limits of task creation and retries.</summary>
public sealed class TaskOptions
{
    public const string Section = "Tasks";

    [Range(1, Domain.Tasks.AiTask.MaxAttemptsLimit)]
    public int DefaultMaxAttempts { get; set; } = 3;

    [Range(1024, 16 * 1024 * 1024)]
    public int MaxPayloadBytes { get; set; } = 256 * 1024;

    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>Section <c>Worker</c>: how ServiceB consumes and runs tasks.</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    [Range(1, 1000)]
    public ushort PrefetchCount { get; set; } = 16;

    [Range(1, 256)]
    public int MaxConcurrency { get; set; } = 1;

    /// <summary>How long a claim holds before the dispatcher may rescue the task; renewed by the heartbeat.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>Section <c>Ai</c>: provider, default model and the price table.</summary>
public sealed class AiOptions
{
    public const string Section = "Ai";

    /// <summary><c>Local</c> (built in, no network) or <c>OpenAI</c> (any OpenAI-compatible endpoint).</summary>
    public string Provider { get; set; } = "Local";

    [Required]
    public string DefaultModel { get; set; } = "local-echo-1";

    /// <summary>Prices per million tokens, by model name.</summary>
    public Dictionary<string, ModelPrice> Prices { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public ModelPrice PriceOf(string model) =>
        Prices.TryGetValue(model, out var price) ? price : new ModelPrice();
}

public sealed class ModelPrice
{
    public decimal InputPerMillion { get; set; }
    public decimal OutputPerMillion { get; set; }
}
