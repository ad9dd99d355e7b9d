using AssistenteIa.Application.Tasks.StreamTaskEvents;
using AssistenteIa.Infrastructure.Messaging;

namespace AssistenteIaApi.Messaging;

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
        builder.Services.AddHostedService<TaskEventListener>();
        return builder;
    }
}
