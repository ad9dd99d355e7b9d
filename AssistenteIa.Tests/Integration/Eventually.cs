namespace AssistenteIa.Tests.Integration;

/// <summary>Waits on a condition with a deadline: polls, never sleeps a fixed time to let a race pass.</summary>
public static class Eventually
{
    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan deadline, string what)
    {
        using var cts = new CancellationTokenSource(deadline);
        var last = default(T);
        while (!cts.IsCancellationRequested)
        {
            last = await probe();
            if (done(last))
            {
                return last;
            }

            try
            {
                await Task.Delay(100, cts.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        throw new TimeoutException($"Gave up after {deadline} waiting for {what}; last value: {last}");
    }
}
