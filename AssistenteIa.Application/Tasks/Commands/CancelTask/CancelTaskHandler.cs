using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Application.Tasks.Commands.CancelTask;

public sealed record CancelTaskResult(TaskDto Task, CancelOutcome Outcome);

/// <summary>
/// Best-effort cancellation: a task that is not running is cancelled at once; a reserved or running one is
/// flagged and its worker stops it; a finished one is refused.
/// </summary>
public sealed class CancelTaskHandler(IAppDbContext db, OutboxPublisher outbox, TimeProvider clock, ILogger<CancelTaskHandler> logger)
{
    private const int MaxRetries = 5;

    public async Task<CancelTaskResult> HandleAsync(string tenantId, Guid id, CancellationToken cancellationToken)
    {
        for (var retry = 0; ; retry++)
        {
            var task = await db.Tasks.FirstOrDefaultAsync(t => t.Id == id && t.TenantId == tenantId, cancellationToken)
                ?? throw new NotFoundException($"Task {id} was not found.");
            var now = clock.GetUtcNow();
            var outcome = task.RequestCancel(now);

            // A running attempt is told at once through the control exchange (the cancel_requested event's signal);
            // its heartbeat is the fallback.
            if (await outbox.SaveAndPublishAsync(cancellationToken))
            {
                logger.LogInformation("Cancel of task {TaskId}: {Outcome}", id, outcome);
                return new CancelTaskResult(TaskDto.From(task), outcome);
            }

            // A worker moved the task meanwhile (claimed, renewed, finished): decide again on fresh state.
            if (retry == MaxRetries)
            {
                throw new ConflictException($"Task {id} keeps changing; retry the cancel.");
            }
        }
    }
}
