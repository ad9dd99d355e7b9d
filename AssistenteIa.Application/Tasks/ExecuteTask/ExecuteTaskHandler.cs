using System.Text.Json;
using AssistenteIa.Application.Abstractions;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Domain.Tasks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.ExecuteTask;

public enum ExecutionOutcome
{
    /// <summary>This worker ran an attempt and recorded its outcome.</summary>
    Recorded,

    /// <summary>Duplicate or stale message (task unknown, already claimed, finished or cancelled): nothing to do.</summary>
    Ignored,
}

/// <summary>
/// Runs one <see cref="TaskQueued"/> delivery: claims the task with an optimistic-concurrency update
/// (so two workers never run the same attempt), runs it, and records exactly one outcome for the attempt.
/// The caller acks the message only after this returns.
/// </summary>
public sealed class ExecuteTaskHandler(
    IAppDbContext db,
    ITaskExecutor executor,
    IServiceScopeFactory scopes,
    IOptions<WorkerOptions> workerOptions,
    IOptions<TaskOptions> taskOptions,
    IOptions<AiOptions> aiOptions,
    WorkerIdentity worker,
    TaskMetrics metrics,
    RunningAttempts running,
    TimeProvider clock,
    ILogger<ExecuteTaskHandler> logger)
{
    private const int MaxSaveRetries = 5;

    public async Task<ExecutionOutcome> HandleAsync(TaskQueued message, CancellationToken stoppingToken)
    {
        var options = workerOptions.Value;
        var task = await db.Tasks.FirstOrDefaultAsync(t => t.Id == message.TaskId, stoppingToken);
        if (task is null || task.Status != AiTaskStatus.Queued)
        {
            logger.LogInformation("Ignoring TaskQueued for task {TaskId} attempt {Attempt}: task is {Status}", message.TaskId, message.Attempt, task?.Status.ToString() ?? "unknown");
            return ExecutionOutcome.Ignored;
        }

        var now = clock.GetUtcNow();
        var queuedAt = task.UpdatedAt;
        task.Reserve(worker.Id, now + options.LeaseDuration, now);
        var attempt = task.Start(now);
        db.TaskAttempts.Add(attempt);
        try
        {
            await db.SaveChangesAsync(stoppingToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            logger.LogInformation("Task {TaskId} was claimed or changed by someone else; ignoring this delivery", message.TaskId);
            return ExecutionOutcome.Ignored;
        }

        metrics.AttemptStarted(now - queuedAt);
        logger.LogInformation("Task {TaskId} attempt {AttemptNo} started on {WorkerId}", task.Id, attempt.AttemptNo, worker.Id);
        var payload = JsonSerializer.Deserialize<TaskPayload>(task.PayloadJson, JsonDefaults.Options) ?? new TaskPayload();
        var request = new ExecutionRequest(task.Id, attempt.AttemptNo, task.Type, payload);

        using var timeout = new CancellationTokenSource(options.AttemptTimeout, clock);
        using var cancelRequested = new CancellationTokenSource();
        using var registration = running.Register(task.Id, cancelRequested);
        using var run = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token, cancelRequested.Token);
        using var heartbeatStop = new CancellationTokenSource();
        var heartbeat = HeartbeatAsync(task.Id, cancelRequested, heartbeatStop.Token);

        AttemptResult result;
        try
        {
            var output = await executor.ExecuteAsync(request, run.Token);
            result = AttemptResult.Success(output);
        }
        catch (OperationCanceledException ex) when (cancelRequested.IsCancellationRequested)
        {
            result = AttemptResult.Cancelled((ex as AttemptCancelledException)?.Usage ?? ExecutionUsage.Empty);
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested)
        {
            var usage = (ex as AttemptCancelledException)?.Usage;
            result = AttemptResult.Failure(new TaskExecutionException(ErrorKind.Transient, "Timeout", $"The attempt did not finish within {options.AttemptTimeout}.", usage));
        }
        catch (OperationCanceledException ex) when (stoppingToken.IsCancellationRequested)
        {
            var usage = (ex as AttemptCancelledException)?.Usage;
            result = AttemptResult.Failure(new TaskExecutionException(ErrorKind.Transient, "WorkerStopping", "The worker stopped during the attempt.", usage));
        }
        catch (TaskExecutionException ex)
        {
            result = AttemptResult.Failure(ex);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Unexpected error running task {TaskId}", task.Id);
            result = AttemptResult.Failure(new TaskExecutionException(ErrorKind.Transient, "UnexpectedError", ex.Message, inner: ex));
        }
        finally
        {
            await heartbeatStop.CancelAsync();
            await heartbeat;
        }

        // The outcome is written even while the host stops: the message is acked only after it is stored.
        return await RecordAsync(task, attempt, result, CancellationToken.None);
    }

    /// <summary>
    /// Writes the outcome on the entities tracked since the claim; the row version makes that update conditional.
    /// When something else changed the task meanwhile (cancel request, heartbeat, rescuer), reads it again and
    /// decides on fresh state.
    /// </summary>
    private async Task<ExecutionOutcome> RecordAsync(AiTask task, TaskAttempt attempt, AttemptResult result, CancellationToken cancellationToken)
    {
        for (var retry = 0; ; retry++)
        {
            if (task.Status != AiTaskStatus.Running || task.LockedBy != worker.Id || task.AttemptCount != attempt.AttemptNo || attempt.Status != AttemptStatus.Running)
            {
                // The dispatcher rescued the task after our lease expired; its decision stands.
                logger.LogWarning("Task {TaskId} attempt {AttemptNo} was taken over while running; discarding this outcome", task.Id, attempt.AttemptNo);
                return ExecutionOutcome.Ignored;
            }

            Apply(task, attempt, result);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                metrics.AttemptEnded(task, attempt);
                logger.LogInformation(
                    "Task {TaskId} attempt {AttemptNo} ended {AttemptStatus}; task is {Status} (tokens {TokensIn}/{TokensOut}, cost {Cost})",
                    task.Id, attempt.AttemptNo, attempt.Status, task.Status, attempt.TokensIn, attempt.TokensOut, attempt.Cost);
                return ExecutionOutcome.Recorded;
            }
            catch (DbUpdateConcurrencyException) when (retry < MaxSaveRetries)
            {
                var (taskId, attemptNo) = (task.Id, attempt.AttemptNo);
                db.ClearTracking();
                task = await db.Tasks.FirstAsync(t => t.Id == taskId, cancellationToken);
                attempt = await db.TaskAttempts.FirstAsync(a => a.TaskId == taskId && a.AttemptNo == attemptNo, cancellationToken);
            }
        }
    }

    private void Apply(AiTask task, TaskAttempt attempt, AttemptResult result)
    {
        var now = clock.GetUtcNow();
        var usage = Price(result.Usage);
        switch (result)
        {
            case { Output: { } output }:
                attempt.Close(AttemptStatus.Succeeded, usage, now);
                db.TaskArtifacts.Add(TaskArtifact.Text(task.Id, attempt.AttemptNo, output.Output, now));
                task.Succeed(now);
                break;
            case { IsCancelled: true }:
                attempt.Close(AttemptStatus.Cancelled, usage, now, "Cancelled", "Cancelled at the client's request.");
                task.Cancel(now);
                break;
            case { Error: { } error }:
                var policy = new RetryPolicy(taskOptions.Value.RetryBaseDelay, taskOptions.Value.RetryMaxDelay);
                task.FailAttempt(attempt, usage, error.Code, error.Message, error.Kind, policy, Random.Shared.NextDouble(), now);
                break;
        }
    }

    private AttemptUsage Price(ExecutionUsage usage)
    {
        var price = aiOptions.Value.PriceOf(usage.Model);
        return new AttemptUsage(usage.Model, usage.TokensIn, usage.TokensOut, price.InputPerMillion, price.OutputPerMillion);
    }

    /// <summary>
    /// Renews the lease while the attempt runs, and notices a cancel request made through the API (the fallback
    /// when the control message of <see cref="RunningAttempts"/> was lost).
    /// </summary>
    private async Task HeartbeatAsync(Guid taskId, CancellationTokenSource cancelRequested, CancellationToken stop)
    {
        var options = workerOptions.Value;
        using var timer = new PeriodicTimer(options.HeartbeatInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    var heartbeatDb = scope.ServiceProvider.GetRequiredService<IAppDbContext>();
                    var leaseUntil = clock.GetUtcNow() + options.LeaseDuration;
                    var workerId = worker.Id;
                    await heartbeatDb.Tasks
                        .Where(t => t.Id == taskId && t.LockedBy == workerId && t.Status == AiTaskStatus.Running)
                        .ExecuteUpdateAsync(s => s.SetProperty(t => t.LockedUntil, leaseUntil), stop);
                    var cancel = await heartbeatDb.Tasks.Where(t => t.Id == taskId).Select(t => t.CancelRequested).FirstOrDefaultAsync(stop);
                    if (cancel)
                    {
                        logger.LogInformation("Cancel requested for running task {TaskId}", taskId);
                        await cancelRequested.CancelAsync();
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "Heartbeat for task {TaskId} failed; will try again", taskId);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private sealed record AttemptResult(ExecutionResult? Output, TaskExecutionException? Error, bool IsCancelled, ExecutionUsage Usage)
    {
        public static AttemptResult Success(ExecutionResult output) => new(output, null, false, output.Usage);

        public static AttemptResult Failure(TaskExecutionException error) => new(null, error, false, error.Usage);

        public static AttemptResult Cancelled(ExecutionUsage usage) => new(null, null, true, usage);
    }
}

/// <summary>Names this worker instance in <c>Tasks.LockedBy</c>.</summary>
public sealed record WorkerIdentity(string Id);
