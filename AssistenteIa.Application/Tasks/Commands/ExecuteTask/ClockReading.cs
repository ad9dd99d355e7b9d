namespace AssistenteIa.Application.Tasks.Commands.ExecuteTask;

/// <summary>
/// One moment read on both of a worker's clocks. The wall clock steps (NTP, a VM resumed from a snapshot) and the
/// monotonic one stands still while the machine sleeps; a lease judged by either alone could be held past its end, so
/// the time since a reading is the longer of the two: in doubt, a worker renews or stops early, never late.
/// </summary>
public sealed record ClockReading(DateTimeOffset WallTime, TimeSpan Monotonic)
{
    public static ClockReading Of(TimeProvider clock) => new(clock.GetUtcNow(), clock.GetElapsedTime(0, clock.GetTimestamp()));

    public TimeSpan Since(ClockReading earlier)
    {
        var wall = WallTime - earlier.WallTime;
        var monotonic = Monotonic - earlier.Monotonic;
        return wall > monotonic ? wall : monotonic;
    }
}
