using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.Commands.ExecuteTask;

/// <summary>
/// The attempts one worker runs at once: <see cref="WorkerOptions.MaxConcurrency"/>. A delivery holds a slot from the
/// read of its task through the claim and the run, and gives it back before its outcome is written, so the commit of
/// one task's outcome (and its ack) overlaps the claim of the next. The subscription hands over more deliveries than
/// there are slots (<see cref="WorkerOptions.DeliveryConcurrency"/>); those wait here. Measured with the Local model
/// at two slots: a slot spent ~40% of its time on the outcome's save, and end to end went from 426–483 to 491–521
/// tasks/s in three alternating pairs.
/// </summary>
public sealed class ExecutionSlots(IOptions<WorkerOptions> options) : IDisposable
{
    private readonly SemaphoreSlim _free = new(options.Value.MaxConcurrency, options.Value.MaxConcurrency);

    /// <summary>Slots not taken at this moment.</summary>
    public int Free => _free.CurrentCount;

    /// <summary>Waits for a free slot; the slot is given back when the returned handle is disposed (once).</summary>
    public async Task<Slot> EnterAsync(CancellationToken cancellationToken)
    {
        await _free.WaitAsync(cancellationToken);
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
