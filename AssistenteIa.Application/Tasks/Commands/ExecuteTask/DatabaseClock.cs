namespace AssistenteIa.Application.Tasks.Commands.ExecuteTask;

/// <summary>
/// What this worker knows of the database's clock without asking it: the last <c>now()</c> a read of a task returned,
/// carried forward on the monotonic clock. A claim made from its work message (no read) leases the task by it.
/// <para>
/// The estimate never runs ahead of the database, so a lease written from it ends a little early, never late, like
/// one written from the read's own <c>now()</c>: the database read <c>now()</c> before it answered, and the time since
/// the answer is counted less a margin for the two clocks' rates (<see cref="RateMargin"/>). It is not used when it is
/// older than <see cref="MaxAge"/>, when the wall clock and the monotonic clock disagree about the time since
/// (the machine slept, or its wall clock was stepped), or after the worker lost its connection to the database (a
/// failover may have brought another clock): the next claim then reads its task, which gives a new reading.
/// </para>
/// </summary>
public sealed class DatabaseClock(TimeProvider clock)
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(1);

    /// <summary>How far the wall clock and the monotonic clock may disagree about the time since the reading.</summary>
    public static readonly TimeSpan ClocksAgreeWithin = TimeSpan.FromMilliseconds(500);

    /// <summary>The time since the reading counted short by this fraction (1,000 ppm: far above any two clocks' drift).</summary>
    public const double RateMargin = 0.001;

    private Reading? _last;

    /// <summary>
    /// A reading answered slower than this is not kept: the fencing counts from before the statement was sent, so a
    /// slow one (a cold first read took 5 s) would make every claim from it look slow for a minute.
    /// </summary>
    public static readonly TimeSpan MaxRoundTrip = TimeSpan.FromMilliseconds(250);

    /// <summary>A <c>now()</c> the database returned to a statement sent at <paramref name="sent"/> and answered at <paramref name="answered"/>.</summary>
    public void Observe(DateTimeOffset databaseNow, ClockReading sent, ClockReading answered)
    {
        var roundTrip = answered.MonotonicSince(sent);
        if (roundTrip >= TimeSpan.Zero && roundTrip <= MaxRoundTrip)
        {
            Volatile.Write(ref _last, new Reading(databaseNow, sent, answered));
        }
    }

    /// <summary>The worker lost its connection, or the database refused it: the next claim reads its task.</summary>
    public void Forget() => Volatile.Write(ref _last, null);

    /// <summary>
    /// The database's time now, at the latest (null when it is not known well enough), and the moment of this worker's
    /// clocks at which the database's time was at most that: what a lease's self-fencing counts from.
    /// </summary>
    public Estimate? Now()
    {
        if (Volatile.Read(ref _last) is not { } last)
        {
            return null;
        }

        var now = ClockReading.Of(clock);
        var elapsed = now.MonotonicSince(last.Answered);
        var wallElapsed = now.WallSince(last.Answered);
        if (elapsed < TimeSpan.Zero || elapsed > MaxAge || (wallElapsed - elapsed).Duration() > ClocksAgreeWithin)
        {
            return null;
        }

        var counted = elapsed - (elapsed * RateMargin);

        // The database read its now() no earlier than the statement was sent: the fencing counts from that moment carried
        // forward by the counted time, less the margin once more (the database's clock may run that much faster than
        // this one), so it stops an attempt before a lease written from this estimate ends.
        var asOf = now.Minus(last.Answered.MonotonicSince(last.Sent) + (elapsed - counted) + (counted * RateMargin));
        return new Estimate(last.DatabaseNow + counted, asOf);
    }

    /// <summary>The database's time at the latest, and the worker's clocks when it was at most that.</summary>
    public sealed record Estimate(DateTimeOffset DatabaseNow, ClockReading AsOf);

    private sealed record Reading(DateTimeOffset DatabaseNow, ClockReading Sent, ClockReading Answered);
}
