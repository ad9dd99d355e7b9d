using System.ComponentModel.DataAnnotations;

namespace AssistenteIa.Application;

/// <summary>Section <c>Tasks</c>: defaults and limits of task creation and retries.</summary>
public sealed class TaskOptions
{
    public const string Section = "Tasks";

    [Range(1, Domain.Entities.AiTask.MaxAttemptsLimit)]
    public int DefaultMaxAttempts { get; set; } = 3;

    [Range(1024, 16 * 1024 * 1024)]
    public int MaxPayloadBytes { get; set; } = 256 * 1024;

    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How many unfinished <c>Critical</c> tasks one tenant may have at once; more are refused with 429 so one
    /// tenant cannot starve the others by marking everything critical. 0 forbids Critical.
    /// </summary>
    [Range(0, 1_000_000)]
    public int MaxCriticalPerTenant { get; set; } = 100;
}

/// <summary>Section <c>Worker</c>: how ServiceB consumes and runs tasks.</summary>
public sealed class WorkerOptions : IValidatableObject
{
    public const string Section = "Worker";

    /// <summary>
    /// Deliveries the broker may hand this worker ahead of time. Null: twice <see cref="MaxConcurrency"/>.
    /// A delivery waiting in the prefetch buffer or for an execution slot counts against the broker's consumer ack
    /// timeout, so the value is refused when the last prefetched delivery could wait longer than <see cref="BrokerAckTimeout"/>.
    /// </summary>
    [Range(1, 1000)]
    public ushort? PrefetchCount { get; set; }

    [Range(1, 256)]
    public int MaxConcurrency { get; set; } = 1;

    /// <summary>How long a claim holds before the dispatcher may rescue the task; renewed by the heartbeat.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>One batched lease renewal per worker every interval. Null: a third of <see cref="LeaseDuration"/>.</summary>
    public TimeSpan? HeartbeatInterval { get; set; }
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The broker's <c>consumer_timeout</c> (RabbitMQ's default is 30 minutes).</summary>
    public TimeSpan BrokerAckTimeout { get; set; } = TimeSpan.FromMinutes(30);

    public ushort EffectivePrefetch => PrefetchCount ?? (ushort)Math.Min(1000, MaxConcurrency * 2);

    /// <summary>
    /// Deliveries handled at once: <see cref="MaxConcurrency"/> plus as many again, at most 32 more and at most the
    /// prefetch. Only MaxConcurrency of them read, claim and run; the others write a finished attempt's outcome or wait
    /// for a slot. Each of them may hold a database connection at once, so ServiceB's pool holds this many plus 8 for the
    /// heartbeat and the outbox (at least 20), unless its connection string names <c>Maximum Pool Size</c>.
    /// </summary>
    public ushort DeliveryConcurrency => (ushort)Math.Min(EffectivePrefetch, MaxConcurrency + Math.Min(MaxConcurrency, 32));

    public TimeSpan EffectiveHeartbeatInterval => HeartbeatInterval ?? LeaseDuration / 3;

    /// <summary>
    /// How long a running attempt may go without its lease confirmed before the worker stops it itself (self-fencing):
    /// the dispatcher may rescue the task any moment after. Counted on the monotonic clock by each attempt's own timer;
    /// when only the wall clock says it is over, the next renewal decides.
    /// </summary>
    public TimeSpan UnconfirmedLeaseLimit => LeaseDuration - EffectiveHeartbeatInterval;

    /// <summary>
    /// After a renewal that failed, the heartbeat tries again this much later. A quarter of an interval: the attempts
    /// fence themselves an interval after the beat that failed, so three more tries fit before when the database
    /// refuses at once.
    /// </summary>
    public TimeSpan RenewalRetryDelay => EffectiveHeartbeatInterval / 4;

    /// <summary>
    /// How long the database has to answer a renewal before its statement is cancelled and the renewal counts as
    /// failed: an interval, in whole seconds (Npgsql's unit), at least one. A later answer is of no use (the next beat
    /// has gone out meanwhile), and a renewal that failed, unlike one still waiting, settles the wall-clock doubt (see
    /// <c>RenewLeasesHandler</c>). Npgsql waits up to its cancellation timeout (2 s) for the database to confirm the
    /// cancel, then drops the connection: a renewal stuck on a silent open connection ends within this plus 2 s
    /// instead of the connection string's command timeout (30 s by default). Getting a connection is not covered: a
    /// new one is bounded by the connection string's <c>Timeout</c> (15 s by default).
    /// </summary>
    public TimeSpan RenewalTimeout => TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(EffectiveHeartbeatInterval.TotalSeconds)));

    /// <summary>
    /// How long the heartbeat waits for a renewal before it sends another one at once (on another connection: the pool
    /// does not hand out one still busy): a quarter of an interval, at least half an interval or a second, whichever is
    /// less (a busy machine answers slowly, and each try left unanswered holds a connection).
    /// </summary>
    public TimeSpan RenewalPatience => TimeSpan.FromTicks(Math.Max(
        EffectiveHeartbeatInterval.Ticks / 4, Math.Min(TimeSpan.TicksPerSecond, EffectiveHeartbeatInterval.Ticks / 2)));

    /// <summary>
    /// A claim that took longer renews its lease before the attempt runs. The first renewal comes up to an interval
    /// after the claim and the attempt fences itself at <see cref="UnconfirmedLeaseLimit"/>, so a claim is safe without
    /// renewal up to lease minus two intervals; half of that, at most one interval, leaves a late renewal room.
    /// </summary>
    public TimeSpan SlowClaimMargin => TimeSpan.FromTicks(Math.Clamp((LeaseDuration - (2 * EffectiveHeartbeatInterval)).Ticks / 2, 0, EffectiveHeartbeatInterval.Ticks));

    /// <summary>The longest a prefetched delivery may wait unacked: the attempts queued ahead of it, each up to the timeout, plus its own.</summary>
    public TimeSpan WorstUnackedWait => AttemptTimeout * Math.Ceiling((double)EffectivePrefetch / MaxConcurrency);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (LeaseDuration < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Worker:LeaseDuration must be at least one second.", [nameof(LeaseDuration)]);
        }

        // An attempt fences itself a lease minus an interval after its last confirmation: at least two intervals, so a
        // beat that fails leaves a whole interval for its retries.
        if (EffectiveHeartbeatInterval <= TimeSpan.Zero || EffectiveHeartbeatInterval > LeaseDuration / 3)
        {
            yield return new ValidationResult("Worker:HeartbeatInterval must be positive and at most a third of Worker:LeaseDuration.", [nameof(HeartbeatInterval)]);
        }

        if (AttemptTimeout <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Worker:AttemptTimeout must be positive.", [nameof(AttemptTimeout)]);
        }

        if (WorstUnackedWait >= BrokerAckTimeout)
        {
            yield return new ValidationResult(
                $"Worker:PrefetchCount {EffectivePrefetch} with MaxConcurrency {MaxConcurrency} and AttemptTimeout {AttemptTimeout} lets a delivery wait " +
                $"up to {WorstUnackedWait} unacked, past the broker's ack timeout ({BrokerAckTimeout}): the broker would close the channel. Lower PrefetchCount.",
                [nameof(PrefetchCount)]);
        }
    }
}

/// <summary>Section <c>Ai</c>: provider, default model and the price table.</summary>
public sealed class AiOptions
{
    public const string Section = "Ai";

    /// <summary><c>Local</c> (built in, no network) or <c>OpenAI</c> (any OpenAI-compatible endpoint).</summary>
    public string Provider { get; set; } = "Local";

    [Required]
    public string DefaultModel { get; set; } = "local-echo-1";

    /// <summary>Models a task may ask for in <c>payload.model</c>, besides the default and those in the price table.</summary>
    public List<string> Models { get; set; } = [];

    /// <summary>
    /// The embedding model for Embedding_Search with the OpenAI provider (default <c>text-embedding-3-small</c>); the
    /// Local provider always uses <c>local-hashed-ngrams-v1</c>, a feature-hashing embedding that needs no weights.
    /// </summary>
    public string? EmbeddingModel { get; set; }

    /// <summary>Prices per million tokens, by model name.</summary>
    public Dictionary<string, ModelPrice> Prices { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Every model name a tenant may ask for, sorted.</summary>
    public IReadOnlyList<string> AllowedModels() =>
        Models.Append(DefaultModel).Concat(Prices.Keys).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToList();

    public bool IsAllowed(string model) => ConfiguredName(model) is not null;

    /// <summary>The configured spelling of <paramref name="model"/> (names compare without case), or null when it is not allowed.</summary>
    public string? ConfiguredName(string model) =>
        Models.Append(DefaultModel).Concat(Prices.Keys).FirstOrDefault(m => m.Equals(model, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The price of an attempt: by the model the task asked for, then by the model the provider answered with,
    /// then by the longest price-table name that the answered model starts with (providers answer with dated
    /// names such as <c>gpt-4o-mini-2024-07-18</c> for <c>gpt-4o-mini</c>). Null when no entry fits.
    /// </summary>
    public ModelPrice? PriceOf(string? requestedModel, string? answeredModel)
    {
        foreach (var name in new[] { requestedModel, answeredModel })
        {
            if (name is not null && Prices.TryGetValue(name, out var exact))
            {
                return exact;
            }
        }

        return new[] { answeredModel, requestedModel }
            .Where(name => name is not null)
            .SelectMany(name => Prices.Where(p => name!.StartsWith(p.Key, StringComparison.OrdinalIgnoreCase)))
            .OrderByDescending(p => p.Key.Length)
            .Select(p => p.Value)
            .FirstOrDefault();
    }
}

public sealed class ModelPrice
{
    public decimal InputPerMillion { get; set; }
    public decimal OutputPerMillion { get; set; }

    /// <summary>For skills priced per unit (an image read, a page, an HTTP call): the price of one.</summary>
    public decimal PerUnit { get; set; }
}
