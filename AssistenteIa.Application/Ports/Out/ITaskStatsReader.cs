using AssistenteIa.Application.Stats.Queries.GetStats;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Ports.Out;

/// <summary>Aggregates of a tenant's tasks and attempts over a window, computed by the database (no rows are loaded).</summary>
public interface ITaskStatsReader
{
    Task<TaskStatsReadout> ReadAsync(StatsWindow window, CancellationToken cancellationToken);
}

/// <param name="CountByStatus">Tasks created in the window by status; a status without tasks is absent.</param>
/// <param name="Throughput">One row per bucket, zero-filled.</param>
/// <param name="LatencyByBucket">One row per bucket, null-filled.</param>
public sealed record TaskStatsReadout(
    IReadOnlyDictionary<AiTaskStatus, long> CountByStatus,
    IReadOnlyList<ThroughputBucketDto> Throughput,
    LatencyDto Latency,
    IReadOnlyList<LatencyBucketDto> LatencyByBucket,
    IReadOnlyList<ModelUsageDto> UsageByModel,
    IReadOnlyList<DailyModelUsageDto> UsageByDay);
