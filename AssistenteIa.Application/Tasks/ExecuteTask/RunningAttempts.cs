using System.Collections.Concurrent;

namespace AssistenteIa.Application.Tasks.ExecuteTask;

/// <summary>Why a running attempt was told to stop before it finished.</summary>
public enum StopReason
{
    /// <summary>The client cancelled the task.</summary>
    CancelRequested,

    /// <summary>The lease is no longer ours: the dispatcher rescued the task (this worker was paused or cut off).</summary>
    LeaseLost,
}

/// <summary>
/// The attempts this worker instance is running: the lease heartbeat renews them all in one statement, and a
/// cancel signal or a lost lease reaches the right one.
/// </summary>
public sealed class RunningAttempts
{
    private readonly ConcurrentDictionary<Guid, RunningAttempt> _running = new();

    public IReadOnlyCollection<Guid> TaskIds => _running.Keys.ToList();

    public RunningAttempt Register(Guid taskId)
    {
        var attempt = new RunningAttempt(this, taskId);
        _running[taskId] = attempt;
        return attempt;
    }

    /// <summary>Stops the attempt of <paramref name="taskId"/> when it runs here; returns whether it did.</summary>
    public async Task<bool> StopAsync(Guid taskId, StopReason reason) =>
        _running.TryGetValue(taskId, out var attempt) && await attempt.StopAsync(reason);

    private void Remove(RunningAttempt attempt) => _running.TryRemove(new KeyValuePair<Guid, RunningAttempt>(attempt.TaskId, attempt));

    /// <summary>One running attempt: a token that stops it, and the first reason it was stopped for.</summary>
    public sealed class RunningAttempt(RunningAttempts owner, Guid taskId) : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private int _reason = -1;

        public Guid TaskId { get; } = taskId;

        public CancellationToken Token => _stop.Token;

        public StopReason? Reason => _reason < 0 ? null : (StopReason)_reason;

        public async Task<bool> StopAsync(StopReason reason)
        {
            if (Interlocked.CompareExchange(ref _reason, (int)reason, -1) != -1)
            {
                return false;
            }

            try
            {
                await _stop.CancelAsync();
                return true;
            }
            catch (ObjectDisposedException)
            {
                // The attempt ended while the signal arrived.
                return false;
            }
        }

        public void Dispose()
        {
            owner.Remove(this);
            _stop.Dispose();
        }
    }
}
