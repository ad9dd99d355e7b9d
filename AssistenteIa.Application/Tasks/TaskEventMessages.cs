using System.Diagnostics;
using System.Text.Json;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Events;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks;

/// <summary>
/// The one place that turns a task's events into outbox rows: the events one save records go to the
/// <c>task-events</c> topic exchange (routing key <c>task.&lt;event&gt;</c>) with the task as the REST API lists it,
/// stored in one row (<see cref="TaskEventRows"/>); a <c>queued</c> or <c>requeued</c> event also puts work on
/// <c>tasks-queued</c>, and <c>cancel_requested</c> signals the executors.
/// </summary>
public static class TaskEventMessages
{
    /// <param name="task">The task as it is after the save.</param>
    /// <param name="events">The events the save records, in order.</param>
    /// <param name="traceParent">The trace the rows continue; the current one when not given.</param>
    /// <param name="version">
    /// The task's row version as the save stores it: given, a work message carries the task whole
    /// (<see cref="QueuedTask"/>) when its payload is small.
    /// </param>
    /// <returns>The events' rows, each followed by the work or control messages its events announce.</returns>
    public static IEnumerable<OutboxMessage> For(AiTask task, IReadOnlyList<TaskEvent> events, string? traceParent = null, int? version = null)
    {
        traceParent ??= Activity.Current?.Id;
        var summary = TaskDto.Summarize(task);
        for (var first = 0; first < events.Count; first += TaskEventRows.MaxEvents)
        {
            var ofRow = events.Skip(first).Take(TaskEventRows.MaxEvents).ToList();
            yield return TaskEventRows.Row(task, ofRow, summary, traceParent);
            foreach (var taskEvent in ofRow)
            {
                switch (taskEvent.Name)
                {
                    case TaskEventNames.Queued or TaskEventNames.Requeued:
                        yield return OutboxMessage.Create(
                            Queues.TasksQueued,
                            Queues.TaskQueuedType,
                            JsonSerializer.Serialize(new TaskQueued(task.Id, task.Type.ToString(), task.AttemptCount + 1, task.CorrelationId, Whole(task, version)), JsonDefaults.Options),
                            task.CorrelationId,
                            traceParent,
                            Queues.PriorityOf(task.Priority),
                            taskEvent.At,
                            task.TenantId,
                            task.Id);
                        break;
                    case TaskEventNames.CancelRequested:
                        yield return OutboxMessage.Create(
                            Queues.TasksControl,
                            Queues.TaskCancelRequestedType,
                            JsonSerializer.Serialize(new TaskCancelRequested(task.Id, task.CorrelationId), JsonDefaults.Options),
                            task.CorrelationId,
                            traceParent,
                            priority: 0,
                            taskEvent.At,
                            task.TenantId,
                            task.Id);
                        break;
                }
            }
        }
    }

    private static QueuedTask? Whole(AiTask task, int? version) =>
        version is { } stored && task.Status == AiTaskStatus.Queued && task.PayloadJson.Length <= QueuedTask.MaxPayloadLength
            ? new QueuedTask(task.ToState(), stored)
            : null;
}

/// <summary>
/// The body of a message on <c>task-events</c>: what happened, in which order, the status it left (<see cref="Status"/>),
/// and the task as the save that recorded it left it (one save may record several events: create → created + queued).
/// </summary>
public sealed record TaskEventMessage(string Event, long Sequence, DateTimeOffset At, AiTaskStatus? From, AiTaskStatus Status, int AttemptNo, TaskDto Task);
