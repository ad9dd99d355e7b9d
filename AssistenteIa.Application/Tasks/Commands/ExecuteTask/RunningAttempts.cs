using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.Commands.ExecuteTask;

/// <summary>Why a running attempt was told to stop before it finished.</summary>
public enum StopReason
{
    /// <summary>The client cancelled the task.</summary>
    CancelRequested,

    /// <summary>The lease is no longer ours: the dispatcher rescued the task (this worker was paused or cut off).</summary>
    LeaseLost,
}

/// <summary>
/// The attempts this worker instance is running, by task and attempt number (a worker woken from a pause may hold
/// an old attempt of a task while running its next one): the lease heartbeat renews them all in one statement, and
/// a cancel signal or a lost lease reaches the right one. Each attempt fences itself: a timer on the monotonic clock
/// stops it when its lease has gone unconfirmed for <see cref="WorkerOptions.UnconfirmedLeaseLimit"/>, whatever the
/// heartbeat loop is doing (waiting on a database that stopped answering, or on its next tick).
/// </summary>
public sealed class RunningAttempts(TimeProvider clock, IOptions<WorkerOptions> options, ILogger<RunningAttempts> logger)
{
    private readonly ConcurrentDictionary<(Guid TaskId, int AttemptNo), RunningAttempt> _running = new();

    private TimeProvider Clock => clock;

    private ILogger Logger => logger;

    public IReadOnlyCollection<RunningAttempt> All => _running.Values.ToList();

    /// <param name="leasedAt">
    /// When the lease just written or renewed was read from the database's clock, by this worker's clocks (a moment
    /// before the statement that wrote it): the self-fencing counts from there, never from after that statement.
    /// Default: now.
    /// </param>
    public RunningAttempt Register(Guid taskId, int attemptNo, ClockReading? leasedAt = null)
    {
        var attempt = new RunningAttempt(this, taskId, attemptNo, leasedAt ?? ClockReading.Of(clock));
        _running[(taskId, attemptNo)] = attempt;
        return attempt;
    }

    /// <summary>Stops every attempt of <paramref name="taskId"/> running here; returns whether one was.</summary>
    public async Task<bool> StopAsync(Guid taskId, StopReason reason)
    {
        var stopped = false;
        foreach (var attempt in _running.Values.Where(a => a.TaskId == taskId))
        {
            stopped |= await attempt.StopAsync(reason);
        }

        return stopped;
    }

    private void Remove(RunningAttempt attempt) =>
        _running.TryRemove(new KeyValuePair<(Guid, int), RunningAttempt>((attempt.TaskId, attempt.AttemptNo), attempt));

    /// <summary>How long an attempt confirmed at <paramref name="renewedAt"/> may still run unconfirmed, by the monotonic clock.</summary>
    private TimeSpan Remaining(ClockReading renewedAt)
    {
        var remaining = options.Value.UnconfirmedLeaseLimit - ClockReading.Of(clock).MonotonicSince(renewedAt);
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }

    /// <summary>One running attempt: a token that stops it, when its lease was last confirmed, and the first reason it was stopped for.</summary>
    public sealed class RunningAttempt : IDisposable
    {
        private readonly RunningAttempts _owner;
        private readonly CancellationTokenSource _stop = new();
        private readonly ITimer _fence;
        private readonly Lock _renewal = new();
        private int _reason = -1;
        private ClockReading _renewedAt;

        internal RunningAttempt(RunningAttempts owner, Guid taskId, int attemptNo, ClockReading claimedAt)
        {
            _owner = owner;
            TaskId = taskId;
            AttemptNo = attemptNo;
            _renewedAt = claimedAt;
            var remaining = owner.Remaining(claimedAt);
            if (remaining == TimeSpan.Zero)
            {
                // Registered past the limit already (a slow claim): stopped before anything can run, not by a timer
                // racing the start of the model call.
                _reason = (int)StopReason.LeaseLost;
                _stop.Cancel();
            }

            // Armed once assigned: a callback due at once must find the timer it re-arms.
            _fence = owner.Clock.CreateTimer(static state => _ = ((RunningAttempt)state!).FenceAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _fence.Change(remaining, Timeout.InfiniteTimeSpan);
        }

        public Guid TaskId { get; }

        public int AttemptNo { get; }

        public CancellationToken Token => _stop.Token;

        public StopReason? Reason => _reason < 0 ? null : (StopReason)_reason;

        /// <summary>When the database last confirmed this worker's lease (the claim, then each heartbeat), by this worker's clocks.</summary>
        public ClockReading RenewedAt => Volatile.Read(ref _renewedAt);

        /// <summary>
        /// The lease was confirmed by a statement sent after <paramref name="now"/>: the self-fencing counts from there,
        /// unless a later confirmation came first (renewals may answer out of order: the heartbeat does not wait on
        /// one that does not answer).
        /// </summary>
        public void Renewed(ClockReading now)
        {
            lock (_renewal)
            {
                if (now.Timestamp < _renewedAt.Timestamp)
                {
                    return;
                }

                Volatile.Write(ref _renewedAt, now);
                _fence.Change(_owner.Remaining(now), Timeout.InfiniteTimeSpan);
            }
        }

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
            _owner.Remove(this);
            _fence.Dispose();
            _stop.Dispose();
        }

        private async Task FenceAsync()
        {
            try
            {
                var renewedAt = RenewedAt;
                if (_owner.Remaining(renewedAt) is var remaining && remaining > TimeSpan.Zero)
                {
                    // Renewed while the timer fired, or the timer came early (.NET's timers count on a coarse clock).
                    _fence.Change(remaining, Timeout.InfiniteTimeSpan);
                    return;
                }

                if (await StopAsync(StopReason.LeaseLost))
                {
                    var now = ClockReading.Of(_owner.Clock);
                    _owner.Logger.LogWarning(
                        "Lease of task {TaskId} attempt {AttemptNo} not confirmed for {Elapsed}; stopping the attempt before the dispatcher rescues it",
                        TaskId, AttemptNo, now.MonotonicSince(renewedAt));
                }
            }
            catch (Exception ex)
            {
                _owner.Logger.LogError(ex, "Fencing task {TaskId} attempt {AttemptNo} failed", TaskId, AttemptNo);
            }
        }
    }
}
