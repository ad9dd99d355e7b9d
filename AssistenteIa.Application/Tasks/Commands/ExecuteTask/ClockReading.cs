namespace AssistenteIa.Application.Tasks.Commands.ExecuteTask;

/// <summary>
/// One moment read on both of a worker's clocks. The wall clock steps (NTP, a VM resumed from a snapshot) and the
/// monotonic one stands still while the machine sleeps, so a lease judged by either alone could be held past its end.
/// <see cref="Since"/> is the longer of the two (the slow-claim check renews when either says so); the heartbeat's
/// fencing reads them apart: each attempt's timer counts on the monotonic clock, whose verdict is certain without the
/// database, and the heartbeat's renewal settles what only the wall clock says.
/// </summary>
public sealed record ClockReading(DateTimeOffset WallTime, long Timestamp, long TimestampFrequency)
{
    public static ClockReading Of(TimeProvider clock) => new(clock.GetUtcNow(), clock.GetTimestamp(), clock.TimestampFrequency);

    /// <summary>The same clocks read <paramref name="earlier"/> before.</summary>
    public ClockReading Minus(TimeSpan earlier) =>
        new(WallTime - earlier, Timestamp - (long)(earlier.Ticks * ((double)TimestampFrequency / TimeSpan.TicksPerSecond)), TimestampFrequency);

    public TimeSpan Since(ClockReading earlier)
    {
        var wall = WallSince(earlier);
        var monotonic = MonotonicSince(earlier);
        return wall > monotonic ? wall : monotonic;
    }

    public TimeSpan WallSince(ClockReading earlier) => WallTime - earlier.WallTime;

    /// <summary>The timestamps are subtracted as integers first, so no precision is lost however long the machine has run.</summary>
    public TimeSpan MonotonicSince(ClockReading earlier) =>
        TimeSpan.FromTicks((long)((Timestamp - earlier.Timestamp) * ((double)TimeSpan.TicksPerSecond / TimestampFrequency)));
}
