namespace AssistenteIa.Application.Ports.Out;

/// <summary>The broker's queue of work messages (<c>tasks-queued</c>), as the dispatcher needs to see it.</summary>
public interface IWorkQueue
{
    /// <summary>
    /// How many work messages wait in the queue, not yet delivered to a worker (those delivered and not acked are not
    /// counted). A deleted queue is declared again, empty. Throws when the broker does not answer in time.
    /// </summary>
    Task<long> CountWaitingAsync(CancellationToken cancellationToken);
}
