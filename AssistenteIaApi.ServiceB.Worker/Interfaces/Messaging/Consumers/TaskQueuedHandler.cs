using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Infrastructure.Messaging;

namespace AssistenteIaApi.ServiceB.Worker.Interfaces.Messaging.Consumers;

/// <summary>
/// <c>tasks-queued</c>: runs the task and acks only after its outcome is stored; a failure to store requeues the
/// message (the subscription's default), as does a stop before the delivery had a slot; an unreadable one goes to
/// the dead-letter queue.
/// </summary>
public sealed class TaskQueuedHandler(ExecuteTaskHandler execute, ILogger<TaskQueuedHandler> logger) : IMessageHandler<TaskQueued>
{
    /// <summary>A message naming no task cannot be run: it is rejected to the dead-letter queue.</summary>
    public static TaskQueued? Parse(TaskQueued? message) => message is { TaskId: var id } && id != Guid.Empty ? message : null;

    public async Task<DeliveryOutcome> HandleAsync(TaskQueued message, MessageContext context, CancellationToken cancellationToken)
    {
        // From the body, not the headers: a message re-driven by hand may carry none.
        System.Diagnostics.Activity.Current?.SetTag("assistenteia.task.id", message.TaskId.ToString());
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["TaskId"] = message.TaskId, ["CorrelationId"] = message.CorrelationId });
        return await execute.HandleAsync(message, cancellationToken) == ExecutionOutcome.NotStarted ? DeliveryOutcome.Requeue : DeliveryOutcome.Ack;
    }
}
