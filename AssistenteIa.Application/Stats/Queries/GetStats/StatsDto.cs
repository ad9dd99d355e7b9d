using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Stats.Queries.GetStats;

/// <summary>How wide each bucket of a stats series is. Named as they travel: the contract's values are lowercase.</summary>
public enum StatsBucket
{
    minute,
    hour,
    day,
}

/// <summary>A tenant's task statistics for the window [<paramref name="From"/>, <paramref name="To"/>), all times UTC.</summary>
/// <param name="ByStatus">Tasks created in the window, by their status now; every status is listed, 0 included.</param>
/// <param name="Throughput">One row per bucket of the window, zero-filled.</param>
/// <param name="Latency">Over the whole window; each value null when there is nothing to measure.</param>
/// <param name="LatencyByBucket">One row per bucket of the window; values null for a bucket with nothing to measure.</param>
/// <param name="UsageByModel">Attempts started in the window that recorded a model, by model, most expensive first.</param>
/// <param name="UsageByDay">The same by UTC day of the attempt's start and model: oldest day first, then most expensive first.</param>
public sealed record StatsDto(
    DateTimeOffset From,
    DateTimeOffset To,
    StatsBucket Bucket,
    IReadOnlyList<StatusCountDto> ByStatus,
    IReadOnlyList<ThroughputBucketDto> Throughput,
    LatencyDto Latency,
    IReadOnlyList<LatencyBucketDto> LatencyByBucket,
    IReadOnlyList<ModelUsageDto> UsageByModel,
    IReadOnlyList<DailyModelUsageDto> UsageByDay);

public sealed record StatusCountDto(AiTaskStatus Status, long Count);

/// <param name="Start">The bucket's start; it ends where the next one starts (the first and last may be cut by the window).</param>
/// <param name="Created">Tasks created in the bucket.</param>
/// <param name="Succeeded">Tasks that reached Succeeded in the bucket.</param>
/// <param name="Failed">Tasks that failed for good (reached DeadLetter) in the bucket; a failed attempt that is retried is not counted.</param>
/// <param name="Cancelled">Tasks that reached Cancelled in the bucket.</param>
public sealed record ThroughputBucketDto(DateTimeOffset Start, long Created, long Succeeded, long Failed, long Cancelled);

/// <param name="QueueWaitP50Ms">Median wait of a task for its first attempt, in milliseconds.</param>
/// <param name="QueueWaitP95Ms">95th percentile of that wait.</param>
/// <param name="ExecutionP50Ms">Median duration of a finished attempt, in milliseconds.</param>
/// <param name="ExecutionP95Ms">95th percentile of that duration.</param>
public sealed record LatencyDto(double? QueueWaitP50Ms, double? QueueWaitP95Ms, double? ExecutionP50Ms, double? ExecutionP95Ms)
{
    public static readonly LatencyDto None = new(null, null, null, null);
}

public sealed record LatencyBucketDto(DateTimeOffset Start, double? QueueWaitP50Ms, double? QueueWaitP95Ms, double? ExecutionP50Ms, double? ExecutionP95Ms);

/// <param name="Cost">In the price table's currency: tokens × the per-million prices in force when each attempt ran.</param>
public sealed record ModelUsageDto(string Model, long Attempts, long TokensIn, long TokensOut, decimal Cost);

public sealed record DailyModelUsageDto(DateOnly Day, string Model, long Attempts, long TokensIn, long TokensOut, decimal Cost);
