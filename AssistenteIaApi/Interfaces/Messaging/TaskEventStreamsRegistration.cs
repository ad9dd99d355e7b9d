using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIaApi.Interfaces.Messaging.Consumers;

namespace AssistenteIaApi.Interfaces.Messaging;

public static class TaskEventStreamsRegistration
{
    /// <summary>The Server-Sent Events streams: options, the in-memory hub and this instance's subscription to <c>task-events</c>.</summary>
    public static IHostApplicationBuilder AddTaskEventStreams(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<TaskEventStreamOptions>().Bind(builder.Configuration.GetSection(TaskEventStreamOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<TaskEventHub>();
        builder.Services.AddSingleton<TaskEventStream>();

        // Not a health check of the API: tasks are accepted while the broker is down, and the streams catch up from the outbox.
        builder.Services.AddSingleton<SubscriptionHealth>();
        builder.Services.AddSubscription<ReceivedTaskEvent, TaskEventStreamHandler>(_ =>
            Subscribe.PrivateQueue<ReceivedTaskEvent>(
                Queues.TaskEvents,
                ["task.#"],
                name: $"{Queues.TaskEvents}.api.{Environment.MachineName}.{Guid.NewGuid():N}",

                // Bounded: an instance that cannot keep up loses the oldest, which its streams then read from the outbox.
                arguments: new Dictionary<string, object?> { ["x-max-length"] = 100_000, ["x-overflow"] = "drop-head" }) with
            {
                AutoAck = true,
                Parse = TaskEventParsing.Parse,
                OnSubscribed = sp => sp.GetRequiredService<TaskEventHub>().SignalGap(),
            });
        return builder;
    }
}
