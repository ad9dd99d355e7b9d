using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Infrastructure.Messaging;

namespace AssistenteIaApi.ServiceB.Worker.Interfaces.Messaging.Consumers;

/// <summary>
/// <c>tasks-control</c>, through a private queue of this instance: cancels the attempt of a task this instance runs,
/// so a cancel reaches a running task in well under a second.
/// </summary>
public sealed class CancelSignalHandler(RunningAttempts running, ILogger<CancelSignalHandler> logger) : IMessageHandler<TaskCancelRequested>
{
    public async Task<DeliveryOutcome> HandleAsync(TaskCancelRequested message, MessageContext context, CancellationToken cancellationToken)
    {
        if (await running.StopAsync(message.TaskId, StopReason.CancelRequested))
        {
            logger.LogInformation("Cancel signal delivered to the running attempt of task {TaskId}", message.TaskId);
        }

        return DeliveryOutcome.Ack;
    }
}
