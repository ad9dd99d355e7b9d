using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure;
using AssistenteIa.Infrastructure.Persistence;
using AssistenteIaApi.ServiceB.Worker;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AssistenteIa.Tests.Integration;

/// <summary>The claim on real Postgres: executors racing for one delivery never run the same attempt twice.</summary>
[Collection(AppCollection.Name)]
public sealed class ClaimTests(AppFixture fixture)
{
    [Fact]
    public async Task Two_workers_handling_the_same_message_at_once_run_one_attempt()
    {
        var task = await InsertQueuedTaskAsync();
        var message = new TaskQueued(task.Id, task.Type.ToString(), 1, task.CorrelationId);
        using var workerA = BuildWorker();
        using var workerB = BuildWorker();
        await using var scopeA = workerA.Services.CreateAsyncScope();
        await using var scopeB = workerB.Services.CreateAsyncScope();

        var outcomes = await Task.WhenAll(
            scopeA.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(message, CancellationToken.None),
            scopeB.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(message, CancellationToken.None));

        Assert.Single(outcomes, o => o == ExecutionOutcome.Recorded);
        Assert.Single(outcomes, o => o == ExecutionOutcome.Ignored);
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal("Succeeded", await fixture.ScalarAsync<string>("""SELECT "Status" FROM "Tasks" WHERE "Id" = @p0""", task.Id));
    }

    [Fact]
    public async Task A_message_for_a_finished_task_is_ignored()
    {
        var task = await InsertQueuedTaskAsync();
        var message = new TaskQueued(task.Id, task.Type.ToString(), 1, task.CorrelationId);
        using var worker = BuildWorker();

        await using (var first = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(ExecutionOutcome.Recorded, await first.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(message, CancellationToken.None));
        }

        await using var second = worker.Services.CreateAsyncScope();
        Assert.Equal(ExecutionOutcome.Ignored, await second.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(message, CancellationToken.None));
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
    }

    private async Task<AiTask> InsertQueuedTaskAsync()
    {
        var now = DateTimeOffset.UtcNow;
        var task = AiTask.Create(
            Guid.CreateVersion7(),
            "tenant-a",
            new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async),
            Priority.Normal,
            """{"prompt":"race","simulation":{"latencyMs":200}}""",
            3,
            null,
            null,
            Guid.NewGuid().ToString("N"),
            null,
            now);
        task.Enqueue(now);
        await using var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(fixture.DatabaseConnectionString).Options);
        db.Tasks.Add(task);
        await db.SaveChangesAsync();
        return task;
    }

    /// <summary>ServiceB's own composition root, built but not started (no consumer runs).</summary>
    private IHost BuildWorker()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Production" });
        builder.Configuration["ConnectionStrings:db"] = fixture.DatabaseConnectionString;
        builder.Configuration["ConnectionStrings:rabbitmq"] = fixture.BrokerUri;
        builder.AddApplicationCore();
        builder.AddMessaging();
        builder.AddTaskExecution();
        return builder.Build();
    }
}
