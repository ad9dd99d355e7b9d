using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure;
using AssistenteIaApi.ServiceC.Worker.Dispatching;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;

namespace AssistenteIa.Tests.Integration;

/// <summary>ServiceC's dispatcher loop on a database nothing else dispatches from: a backlog is drained within a tick.</summary>
public sealed class DispatcherDrainTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    [Fact]
    public async Task A_backlog_of_due_tasks_larger_than_a_batch_is_queued_in_one_tick()
    {
        // 350 tasks due at the same moment, batches of 100, and a tick an hour away: one batch a tick (what the loop did)
        // leaves 250 of them waiting for the next ticks.
        var tenant = $"drain-{Guid.NewGuid():N}";
        var now = DateTimeOffset.UtcNow;
        await using (var db = isolated.CreateDbContext())
        {
            for (var i = 0; i < 350; i++)
            {
                db.Tasks.Add(AiTask.Create(
                    Guid.CreateVersion7(), tenant, new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async),
                    Priority.Normal, """{"prompt":"due"}""", 3, null, null, Guid.NewGuid().ToString("N"), now.AddMinutes(-1), now.AddMinutes(-2)));
            }

            await db.SaveChangesAsync();
        }

        using var dispatcher = BuildDispatcher();
        await dispatcher.StartAsync(CancellationToken.None);
        try
        {
            await Eventually.UntilAsync(
                async () =>
                {
                    await using var db = isolated.CreateDbContext();
                    return await db.Tasks.CountAsync(t => t.TenantId == tenant && t.Status == AiTaskStatus.Queued);
                },
                queued => queued == 350,
                TimeSpan.FromSeconds(30),
                "all 350 due tasks to be queued by the first tick");
        }
        finally
        {
            await dispatcher.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>ServiceC's dispatcher (its own registrations) on the isolated database and virtual host, ticking once an hour.</summary>
    private IHost BuildDispatcher()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Production" });
        builder.Configuration["ConnectionStrings:db"] = isolated.ConnectionString;
        builder.Configuration["ConnectionStrings:rabbitmq"] = $"amqp://guest:guest@localhost:5672/{IsolatedDatabase.VirtualHost}";
        builder.Configuration[$"{DispatcherOptions.Section}:{nameof(DispatcherOptions.PollInterval)}"] = "01:00:00";
        builder.Configuration[$"{DispatcherOptions.Section}:{nameof(DispatcherOptions.BatchSize)}"] = "100";
        builder.AddApplicationCore();
        builder.AddMessaging();
        builder.AddDispatcher();
        return builder.Build();
    }
}
