using System.Diagnostics;
using System.Text.Json;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Domain.Outbox;
using AssistenteIa.Domain.Tasks;

namespace AssistenteIa.Application.Tasks;

/// <summary>Builds the outbox rows that announce a task's changes.</summary>
public static class TaskMessages
{
    public static OutboxMessage Queued(AiTask task, DateTimeOffset now)
    {
        var message = new TaskQueued(task.Id, task.Type.ToString(), task.AttemptCount + 1, task.CorrelationId);
        return OutboxMessage.Create(
            Queues.TasksQueued,
            Queues.TaskQueuedType,
            JsonSerializer.Serialize(message, JsonDefaults.Options),
            task.CorrelationId,
            Activity.Current?.Id,
            Queues.PriorityOf(task.Priority),
            now);
    }

    public static OutboxMessage CancelRequested(AiTask task, DateTimeOffset now) => OutboxMessage.Create(
        Queues.TasksControl,
        Queues.TaskCancelRequestedType,
        JsonSerializer.Serialize(new TaskCancelRequested(task.Id, task.CorrelationId), JsonDefaults.Options),
        task.CorrelationId,
        Activity.Current?.Id,
        priority: 0,
        now);
}
