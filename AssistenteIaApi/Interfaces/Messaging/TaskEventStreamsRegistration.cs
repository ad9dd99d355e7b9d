using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIaApi.Interfaces.Messaging.Consumers;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.Interfaces.Messaging;

public static class TaskEventStreamsRegistration
{
    /// <summary>The Server-Sent Events streams: options, the in-memory hub and this instance's subscription to <c>task-events</c>.</summary>
    public static IHostApplicationBuilder AddTaskEventStreams(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<TaskEventStreamOptions>().Bind(builder.Configuration.GetSection(TaskEventStreamOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<TaskEventHub>();
        builder.Services.AddSingleton<TaskEventStream>();

        // The queue is bound to the task events only while a stream is open, and the instance is a listener of them
        // meanwhile (without one they are not published); once bound, the streams catch up from the outbox (what was
        // published before the bind never reached the queue).
        var queueName = $"{Queues.TaskEvents}.api.{Environment.MachineName}.{Guid.NewGuid():N}";
        builder.Services.AddSingleton(sp => new TaskEventListenerLease(
            sp.GetRequiredService<IServiceScopeFactory>(), queueName, sp.GetRequiredService<IOptions<TaskEventStreamOptions>>().Value.ListenerLease));
        builder.Services.AddSingleton(sp => new OnDemandBinding(
            Queues.TaskEvents,
            ["task.#"],
            sp.GetRequiredService<IOptions<TaskEventStreamOptions>>().Value.FeedLinger,
            () => sp.GetRequiredService<TaskEventHub>().SignalGap(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<OnDemandBinding>>(),
            sp.GetRequiredService<TaskEventListenerLease>()));
        builder.Services.AddHostedService<TaskEventListenerRenewal>();
        builder.Services.AddSingleton<ILiveEventFeed>(sp => sp.GetRequiredService<OnDemandBinding>());

        // Not a health check of the API: tasks are accepted while the broker is down, and the streams catch up from the outbox.
        builder.Services.AddSingleton<SubscriptionHealth>();
        builder.Services.AddSubscription<ReceivedTaskEvent, TaskEventStreamHandler>(sp =>
            Subscribe.PrivateQueue<ReceivedTaskEvent>(
                sp.GetRequiredService<OnDemandBinding>(),
                name: queueName,

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
