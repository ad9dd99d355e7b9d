using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.Commands.ExecuteTask;

/// <summary>
/// The attempts one worker runs at once: <see cref="WorkerOptions.MaxConcurrency"/>. A delivery holds a slot from the
/// read of its task through the claim and the run, and gives it back before its outcome is written, so the commit of
/// one task's outcome (and its ack) overlaps the claim of the next. The subscription hands over more deliveries than
/// there are slots (<see cref="WorkerOptions.DeliveryConcurrency"/>); those wait here. Measured with the Local model
/// at two slots: a slot spent ~40% of its time on the outcome's save, and end to end went from 426–483 to 491–521
/// tasks/s in three alternating pairs.
/// An operator sees them on the meter <c>AssistenteIa.Tasks</c>: <c>assistenteia.worker.slots.busy</c> (how many are taken)
/// and <c>assistenteia.worker.slot_wait</c> (how long a delivery waited for one): a worker whose slots stay busy and whose
/// deliveries wait is saturated. More slots or instances help while the machine's CPU has room (the runs wait on a model);
/// when the CPU is full they do not (measured with the Local model on 2 cores).
/// </summary>
public sealed class ExecutionSlots : IDisposable
{
    private readonly SemaphoreSlim _free;
    private readonly int _count;
    private readonly TimeProvider _clock;
    private readonly Histogram<double> _wait;

    public ExecutionSlots(IOptions<WorkerOptions> options, IMeterFactory meterFactory, TimeProvider clock)
    {
        _count = options.Value.MaxConcurrency;
        _free = new SemaphoreSlim(_count, _count);
        _clock = clock;
        // The factory owns the meter (one per name) and disposes it with the container.
        var meter = meterFactory.Create(TaskMetrics.MeterName);
        _wait = meter.CreateHistogram("assistenteia.worker.slot_wait", "s", "Time a delivery waited for a free execution slot before reading its task.", advice: TaskMetrics.SecondsBuckets);
        meter.CreateObservableUpDownCounter("assistenteia.worker.slots.busy", () => _count - _free.CurrentCount, "{slot}", "Execution slots taken (Worker:MaxConcurrency in all).");
    }

    /// <summary>Slots not taken at this moment.</summary>
    public int Free => _free.CurrentCount;

    /// <summary>Waits for a free slot; the slot is given back when the returned handle is disposed (once).</summary>
    public async Task<Slot> EnterAsync(CancellationToken cancellationToken)
    {
        var waitStarted = _clock.GetTimestamp();
        await _free.WaitAsync(cancellationToken);
        _wait.Record(_clock.GetElapsedTime(waitStarted).TotalSeconds);
        return new Slot(_free);
    }

    public void Dispose() => _free.Dispose();

    /// <summary>One slot taken; disposing it again does nothing.</summary>
    public sealed class Slot(SemaphoreSlim free) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                try
                {
                    free.Release();
                }
                catch (ObjectDisposedException)
                {
                    // A run that outlived its host's container (a test disposing the host mid-run): nothing waits for
                    // the slot any more, and the outcome must still be written.
                }
            }
        }
    }
}
