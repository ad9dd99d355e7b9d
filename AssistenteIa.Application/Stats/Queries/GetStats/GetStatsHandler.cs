using System.Globalization;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Stats.Queries.GetStats;

/// <summary>The window as the client sent it (text), so bad values are refused with a message naming the field.</summary>
public sealed record GetStatsQuery(string TenantId, string? From, string? To, string? Bucket);

/// <summary>A validated window: [<see cref="From"/>, <see cref="To"/>) in UTC, cut into <see cref="BucketCount"/> buckets from <see cref="FirstBucket"/>.</summary>
public sealed record StatsWindow(string TenantId, DateTimeOffset From, DateTimeOffset To, StatsBucket Bucket, TimeSpan Stride, DateTimeOffset FirstBucket, int BucketCount);

/// <summary>A tenant's task statistics over a time window, computed by the database.</summary>
public sealed class GetStatsHandler(ITaskStatsReader reader, TimeProvider clock)
{
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromHours(24);
    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(31);
    public const int MaxBuckets = 1_500;

    private static readonly string[] IsoFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd'T'HH:mm:ssK",
        "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd",
    ];

    public async Task<StatsDto> HandleAsync(GetStatsQuery query, CancellationToken cancellationToken)
    {
        var window = Validate(query, clock.GetUtcNow());
        var readout = await reader.ReadAsync(window, cancellationToken);
        var byStatus = Enum.GetValues<AiTaskStatus>()
            .Select(status => new StatusCountDto(status, readout.CountByStatus.GetValueOrDefault(status)))
            .ToList();
        return new StatsDto(
            window.From,
            window.To,
            window.Bucket,
            byStatus,
            readout.Throughput,
            readout.Latency,
            readout.LatencyByBucket,
            readout.UsageByModel,
            readout.UsageByDay);
    }

    /// <summary>Defaults (the last 24 hours ending now, hourly) and limits; every mistake found is reported at once.</summary>
    public static StatsWindow Validate(GetStatsQuery query, DateTimeOffset now)
    {
        var errors = new Dictionary<string, string[]>();
        var from = ParseTime(query.From, "from", errors);
        var to = ParseTime(query.To, "to", errors);
        var bucket = StatsBucket.hour;
        if (!string.IsNullOrEmpty(query.Bucket) && !TryParseBucket(query.Bucket, out bucket))
        {
            errors["bucket"] = [$"bucket '{query.Bucket}' is not one of {string.Join(", ", Enum.GetNames<StatsBucket>())}."];
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        var end = to ?? ToMicroseconds(now);
        var start = from ?? end - DefaultWindow;
        if (start >= end)
        {
            throw RequestValidationException.For("from", "from must be before to.");
        }

        if (end - start > MaxWindow)
        {
            throw RequestValidationException.For("to", $"The window is {(end - start).TotalDays:0.##} days long; at most {MaxWindow.TotalDays:0} days.");
        }

        var stride = StrideOf(bucket);
        var first = FloorToBucket(start, stride);
        var count = (int)(((end - first).Ticks + stride.Ticks - 1) / stride.Ticks);
        if (count > MaxBuckets)
        {
            throw RequestValidationException.For("bucket", $"The window holds {count} {bucket} buckets; at most {MaxBuckets}: use a wider bucket or a shorter window.");
        }

        return new StatsWindow(query.TenantId, start, end, bucket, stride, first, count);
    }

    public static TimeSpan StrideOf(StatsBucket bucket) => bucket switch
    {
        StatsBucket.minute => TimeSpan.FromMinutes(1),
        StatsBucket.hour => TimeSpan.FromHours(1),
        _ => TimeSpan.FromDays(1),
    };

    /// <summary>The start of the bucket holding <paramref name="time"/>: buckets are aligned on whole minutes, hours and UTC days.</summary>
    private static DateTimeOffset FloorToBucket(DateTimeOffset time, TimeSpan stride) =>
        new(time.UtcTicks - (time.UtcTicks % stride.Ticks), TimeSpan.Zero);

    private static readonly DateTimeOffset EarliestTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset LatestTime = new(9999, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset? ParseTime(string? value, string field, Dictionary<string, string[]> errors)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        // ISO 8601 only; a time without an offset is UTC.
        if (DateTimeOffset.TryParseExact(value, IsoFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            // Near the ends of DateTimeOffset the default window underflows and PostgreSQL reads the minimum as -infinity.
            if (parsed < EarliestTime || parsed > LatestTime)
            {
                errors[field] = [$"{field} must be between {EarliestTime:yyyy-MM-dd} and {LatestTime:yyyy-MM-dd}."];
                return null;
            }

            return ToMicroseconds(parsed);
        }

        errors[field] = [$"{field} '{value}' is not an ISO 8601 date-time such as 2026-11-25T10:00:00Z (in a URL, write + in an offset as %2B)."];
        return null;
    }

    /// <summary>In UTC, to the microsecond: what the database keeps, so the window echoed is the window counted.</summary>
    private static DateTimeOffset ToMicroseconds(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % 10), TimeSpan.Zero);

    /// <summary>Only the exact names count: numbers and other casings are refused.</summary>
    private static bool TryParseBucket(string value, out StatsBucket bucket)
    {
        bucket = default;
        return Enum.GetNames<StatsBucket>().Contains(value, StringComparer.Ordinal) && Enum.TryParse(value, ignoreCase: false, out bucket);
    }
}
