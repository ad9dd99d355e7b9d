using AssistenteIa.Application;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks.Capabilities;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure;
using AssistenteIa.Infrastructure.Ai;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIaApi.ServiceB.Worker.Hosting;
using AssistenteIaApi.ServiceB.Worker.Interfaces.Messaging.Consumers;
using AssistenteIaApi.ServiceB.Worker.Skills;
using AssistenteIaApi.ServiceB.Worker.Skills.Integration;
using AssistenteIaApi.ServiceB.Worker.Skills.Rules;
using AssistenteIaApi.ServiceB.Worker.Skills.Search;
using AssistenteIaApi.ServiceB.Worker.Skills.Vision;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker;

public static class ExecutionRegistration
{
    /// <summary>How many times a work message fails on a task row this build cannot read before it goes to <c>tasks-queued.dlq</c>.</summary>
    public const int UnreadableBeforeRejecting = 3;

    /// <summary>
    /// One skill per capability, and the registry that picks it (the registry refuses to start with a capability
    /// missing or registered twice). A new capability is one class and one line here.
    /// </summary>
    public static IHostApplicationBuilder AddSkills(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AssistenteIa.Application.Files.FilesOptions>().Bind(builder.Configuration.GetSection(AssistenteIa.Application.Files.FilesOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.AddOutboundGuard();
        builder.Services.AddScoped<TaskInputReader>();
        builder.Services.AddScoped<ChatClientTaskExecutor>();
        builder.Services.AddScoped<ITaskSkill, GenerationSkill>();
        builder.Services.AddScoped<ITaskSkill, ClassificationSkill>();
        builder.Services.AddScoped<ITaskSkill, ReasoningSkill>();

        builder.Services.AddOptions<SearchOptions>().Bind(builder.Configuration.GetSection(SearchOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<CollectionVectorIndex>();
        builder.Services.AddEmbeddingGenerator(sp => EmbeddingGeneratorFactory.Create(
                sp.GetRequiredService<IOptions<AiOptions>>().Value,
                builder.Configuration.GetConnectionString(DependencyInjection.AiConnectionName)))
            .UseOpenTelemetry(sourceName: "AssistenteIa.Ai");
        builder.Services.AddScoped<ITaskSkill, EmbeddingSearchSkill>();

        builder.Services.AddOptions<RulesOptions>().Bind(builder.Configuration.GetSection(RulesOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<RuleEvaluationSlots>();
        builder.Services.AddScoped<ITaskSkill, RuleEngineSkill>();

        var integrations = builder.Configuration.GetSection(IntegrationsOptions.Section);
        builder.Services.AddOptions<IntegrationsOptions>().Bind(integrations)
            .Configure(options => options.ReadOneValueLists(integrations.GetSection(nameof(IntegrationsOptions.Secrets))))
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IntegrationHttpClient>();
        builder.Services.AddScoped<ITaskSkill, ExternalIntegrationSkill>();

        builder.AddVisionSkills();

        builder.Services.AddScoped<ITaskExecutor, SkillRegistry>();
        return builder;
    }

    /// <summary>The executor: its options, the AI pipeline, the execute use case, the heartbeat and its two subscriptions.</summary>
    public static IHostApplicationBuilder AddTaskExecution(this IHostApplicationBuilder builder)
    {
        builder.AddAiOptions();
        builder.Services.AddOptions<WorkerOptions>().Bind(builder.Configuration.GetSection(WorkerOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(new WorkerIdentity($"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..6]}"));
        builder.Services.AddSingleton<TokenCounter>();
        builder.Services.AddChatClient(sp => ChatClientFactory.Create(
                sp.GetRequiredService<IOptions<AiOptions>>().Value,
                builder.Configuration.GetConnectionString(DependencyInjection.AiConnectionName),
                sp.GetRequiredService<TokenCounter>(),
                sp.GetRequiredService<TimeProvider>()))
            .UseLogging()
            .UseOpenTelemetry(sourceName: "AssistenteIa.Ai", configure: otel => otel.EnableSensitiveData = false);
        builder.AddSkills();
        builder.Services.AddScoped<ExecuteTaskHandler>();
        builder.Services.AddScoped<RenewLeasesHandler>();
        builder.Services.AddSingleton<RunningAttempts>();
        builder.Services.AddSingleton<ExecutionSlots>();
        builder.Services.AddSingleton<DatabaseClock>();
        builder.Services.AddSingleton<SubscriptionHealth>();
        builder.Services.AddHealthChecks().AddCheck<SubscriptionHealth>(SubscriptionHealth.Name);

        // Hosts start services in order and stop them in reverse: the claim's queries are ready before the first
        // delivery, and the heartbeat and the cancel listener keep working until the task subscription has drained its
        // deliveries in progress.
        builder.Services.AddHostedService<ClaimWarmUp>();
        builder.Services.AddHostedService<LeaseHeartbeatService>();
        builder.Services.AddSubscription<TaskCancelRequested, CancelSignalHandler>(_ =>
            Subscribe.PrivateQueue<TaskCancelRequested>(Queues.TasksControl, [""]) with { AutoAck = true });
        builder.Services.AddSubscription<TaskQueued, TaskQueuedHandler>(sp =>
        {
            var worker = sp.GetRequiredService<IOptions<WorkerOptions>>().Value;
            return Subscribe.Queue<TaskQueued>(Queues.TasksQueued) with
            {
                Prefetch = worker.EffectivePrefetch,
                Concurrency = worker.DeliveryConcurrency,
                // A task whose row this build cannot read would otherwise come back every second for ever; its task stays
                // queued as it is, for the requeuer to announce again later (to a build that can read it, after a rollback).
                UnreadableBeforeRejecting = UnreadableBeforeRejecting,
                Parse = (body, context) => TaskQueuedHandler.Parse(Subscribe.Json<TaskQueued>(body)),
            };
        });
        return builder;
    }
}
