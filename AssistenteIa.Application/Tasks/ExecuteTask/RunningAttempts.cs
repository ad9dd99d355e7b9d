using System.Collections.Concurrent;

namespace AssistenteIa.Application.Tasks.ExecuteTask;

/// <summary>The attempts this worker instance is running, so a cancel signal can reach the right one.</summary>
public sealed class RunningAttempts
{
    private readonly ConcurrentDictionary<Guid, CancellationTokenSource> _running = new();

    public IDisposable Register(Guid taskId, CancellationTokenSource cancel)
    {
        _running[taskId] = cancel;
        return new Registration(this, taskId, cancel);
    }

    /// <summary>Signals the attempt of <paramref name="taskId"/> when it runs here; returns whether it did.</summary>
    public async Task<bool> CancelAsync(Guid taskId)
    {
        if (!_running.TryGetValue(taskId, out var cancel))
        {
            return false;
        }

        try
        {
            await cancel.CancelAsync();
            return true;
        }
        catch (ObjectDisposedException)
        {
            // The attempt ended while the signal arrived.
            return false;
        }
    }

    private sealed class Registration(RunningAttempts owner, Guid taskId, CancellationTokenSource cancel) : IDisposable
    {
        public void Dispose() => owner._running.TryRemove(new KeyValuePair<Guid, CancellationTokenSource>(taskId, cancel));
    }
}
