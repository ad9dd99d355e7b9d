namespace AssistenteIa.Domain.Policies;

/// <summary>Exponential backoff with full jitter: delay = U(0, min(cap, base × 2^(attempt-1))).</summary>
public sealed record RetryPolicy(TimeSpan BaseDelay, TimeSpan MaxDelay)
{
    /// <param name="attemptNo">The attempt that just failed, from 1.</param>
    /// <param name="jitterSample">A uniform sample in [0, 1).</param>
    public TimeSpan NextDelay(int attemptNo, double jitterSample)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attemptNo, 1);
        if (jitterSample is < 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(jitterSample), "The jitter sample must be in [0, 1).");
        }

        // Cap the exponent first so large attempt numbers cannot overflow.
        var exponential = BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attemptNo - 1, 30));
        var ceiling = Math.Min(MaxDelay.TotalMilliseconds, exponential);
        return TimeSpan.FromMilliseconds(ceiling * jitterSample);
    }
}
