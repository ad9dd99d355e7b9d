namespace AssistenteIa.Domain.Policies;

/// <summary>When the next attempt of a failed delivery happens: exponential with jitter, and how many attempts in all.</summary>
public sealed record WebhookRetryPolicy(int MaxAttempts, TimeSpan BaseDelay, double Factor, TimeSpan MaxDelay, double Jitter)
{
    /// <summary>The next attempt after <paramref name="attemptsSoFar"/> failed ones, or null when none is left.</summary>
    public DateTimeOffset? NextAttempt(int attemptsSoFar, DateTimeOffset now, double random)
    {
        if (attemptsSoFar >= MaxAttempts)
        {
            return null;
        }

        var delay = BaseDelay.TotalMilliseconds * Math.Pow(Factor, attemptsSoFar - 1);
        delay = Math.Min(delay, MaxDelay.TotalMilliseconds);

        // Spread retries of many deliveries apart: ±Jitter around the delay.
        delay *= 1 + (Jitter * ((2 * random) - 1));
        return now + TimeSpan.FromMilliseconds(delay);
    }
}
