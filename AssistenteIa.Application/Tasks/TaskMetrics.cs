using System.Diagnostics.Metrics;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks;

/// <summary>The platform's own metrics (meter <c>AssistenteIa.Tasks</c>), exported through OpenTelemetry to the dashboard.</summary>
public sealed class TaskMetrics : IDisposable
{
    public const string MeterName = "AssistenteIa.Tasks";

    /// <summary>
    /// Buckets for the histograms in seconds: without them the exporter's defaults (0, 5, 10, 25 … 10,000, meant for
    /// milliseconds) would put nearly every wait and run in one bucket. The runtime's own second-based buckets, and on
    /// to 5 minutes for model calls and queues.
    /// </summary>
    public static readonly InstrumentAdvice<double> SecondsBuckets = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300],
    };

    private readonly Meter _meter;
    private readonly Counter<long> _created;
    private readonly Counter<long> _finished;
    private readonly Counter<long> _attemptsFailed;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _execution;
    private readonly Counter<long> _tokens;
    private readonly Counter<double> _cost;
    private readonly Counter<long> _priceMissing;
    private readonly Counter<long> _claims;

    public TaskMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _created = _meter.CreateCounter<long>("assistenteia.tasks.created", "{task}", "Tasks accepted by the API.");
        _finished = _meter.CreateCounter<long>("assistenteia.tasks.finished", "{task}", "Tasks that reached Succeeded, Cancelled or DeadLetter, by status.");
        _attemptsFailed = _meter.CreateCounter<long>("assistenteia.attempts.failed", "{attempt}", "Failed attempts, by error code.");
        _queueWait = _meter.CreateHistogram("assistenteia.tasks.queue_wait", "s", "Time from queued to the start of the attempt.", advice: SecondsBuckets);
        _execution = _meter.CreateHistogram("assistenteia.attempts.duration", "s", "Duration of an attempt, by outcome.", advice: SecondsBuckets);
        _tokens = _meter.CreateCounter<long>("assistenteia.tokens", "{token}", "Tokens consumed, by model and direction.");
        _cost = _meter.CreateCounter<double>("assistenteia.cost", "{currency}", "Cost of the attempts, by model.");
        _priceMissing = _meter.CreateCounter<long>("assistenteia.prices.missing", "{attempt}", "Attempts that consumed tokens of a model with no configured price, by model.");
        _claims = _meter.CreateCounter<long>(
            "assistenteia.claims", "{claim}", "Tasks a worker claimed, by how: from the work message alone, or from a read of the task (one round trip more) and why it read.");
    }

    public void TaskCreated(TaskType type) =>
        _created.Add(1, new("capability", type.Capability.ToString()), new("domain", type.Domain.ToString()));

    public void AttemptStarted(TimeSpan queueWait) => _queueWait.Record(Math.Max(0, queueWait.TotalSeconds));

    /// <summary>A claim made from the task its work message carried, without reading it.</summary>
    public void ClaimedFromMessage() => _claims.Add(1, new KeyValuePair<string, object?>("from", "message"));

    /// <summary>A claim made from a read of the task, because of <paramref name="reason"/> (a <see cref="ClaimReadReason"/>).</summary>
    public void ClaimedFromRead(string reason) => _claims.Add(1, new("from", "read"), new("read_reason", reason));

    public void PriceMissing(string model) => _priceMissing.Add(1, new KeyValuePair<string, object?>("model", model));

    /// <summary>Usage reported late by a worker whose attempt the dispatcher had already closed.</summary>
    public void AttemptUsageRecorded(TaskAttempt attempt)
    {
        var model = attempt.Model ?? "none";
        _tokens.Add(attempt.TokensIn, new("model", model), new("direction", "input"));
        _tokens.Add(attempt.TokensOut, new("model", model), new("direction", "output"));
        _cost.Add((double)attempt.Cost, new KeyValuePair<string, object?>("model", model));
    }

    public void AttemptEnded(AiTask task, TaskAttempt attempt)
    {
        _execution.Record(attempt.LatencyMs / 1000.0, new KeyValuePair<string, object?>("outcome", attempt.Status.ToString()));
        AttemptUsageRecorded(attempt);
        if (attempt.Status == AttemptStatus.Failed)
        {
            _attemptsFailed.Add(1, new KeyValuePair<string, object?>("error_code", attempt.ErrorCode));
        }

        if (task.IsTerminal)
        {
            _finished.Add(1, new KeyValuePair<string, object?>("status", task.Status.ToString()));
        }
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>
/// Why a worker read a task before claiming it (the <c>read_reason</c> of <c>assistenteia.claims</c>). A steady share of
/// reads other than the clock's refresh tells an operator the claims lost their cheaper path: the clock of the process
/// that queued the task (API, dispatcher) far from the database's, or a backlog older than the message's window
/// (message_not_recent), large payloads (no_task_in_message), slow database round trips (clock_unknown).
/// </summary>
public static class ClaimReadReason
{
    /// <summary>The message does not carry the task: its payload is too large (over 8,192 characters), or an older build wrote it.</summary>
    public const string NoTaskInMessage = "no_task_in_message";

    /// <summary>
    /// The worker's estimate of the database's clock is missing or older than a minute: at start, after a failure, about
    /// once a minute (once per claim in flight at that moment), and always while reads of it take over 250 ms.
    /// </summary>
    public const string ClockUnknown = "clock_unknown";

    /// <summary>The message was written longer ago than its window (a backlog, a re-driven dead letter), or ahead of the clock.</summary>
    public const string MessageNotRecent = "message_not_recent";

    /// <summary>The database refused the claim from the message: the task changed since it was written.</summary>
    public const string TaskChanged = "task_changed";
}
