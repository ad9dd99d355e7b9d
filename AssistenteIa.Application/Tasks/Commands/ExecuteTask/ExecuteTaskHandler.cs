using System.Text.Json;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Policies;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tasks.Commands.ExecuteTask;

public enum ExecutionOutcome
{
    /// <summary>This worker ran an attempt and recorded its outcome.</summary>
    Recorded,

    /// <summary>Duplicate or stale message (task unknown, already claimed, finished or cancelled), or an attempt taken over: nothing more to do.</summary>
    Ignored,

    /// <summary>
    /// The host stopped before the delivery claimed its task (while it waited for a slot, or during the read): nothing
    /// was written; the delivery goes back to the queue.
    /// </summary>
    NotStarted,
}

/// <summary>
/// Runs one <see cref="TaskQueued"/> delivery: claims the task with an optimistic-concurrency update
/// (so two workers never run the same attempt), runs it, and records exactly one outcome for the attempt.
/// The lease is renewed by <see cref="RenewLeasesHandler"/>, which stops the attempt when the lease is lost.
/// At most <see cref="WorkerOptions.MaxConcurrency"/> deliveries read, claim and run at once (<see cref="ExecutionSlots"/>);
/// the outcome is written after the slot is given back. The caller acks the message only after this returns.
/// </summary>
public sealed class ExecuteTaskHandler(
    IAppDbContext db,
    ITaskExecutor executor,
    OutboxPublisher outbox,
    IOptions<WorkerOptions> workerOptions,
    IOptions<TaskOptions> taskOptions,
    IOptions<AiOptions> aiOptions,
    WorkerIdentity worker,
    TaskMetrics metrics,
    RunningAttempts running,
    ExecutionSlots slots,
    DatabaseClock databaseClock,
    TimeProvider clock,
    ILogger<ExecuteTaskHandler> logger)
{
    private const int MaxSaveRetries = 5;

    public async Task<ExecutionOutcome> HandleAsync(TaskQueued message, CancellationToken stoppingToken)
    {
        var options = workerOptions.Value;
        ExecutionSlots.Slot slot;
        try
        {
            slot = await slots.EnterAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return ExecutionOutcome.NotStarted;
        }

        using var heldSlot = slot;
        ClaimedAttempt? claimed;
        try
        {
            (claimed, var readBecause) = await ClaimFromMessageAsync(message, stoppingToken);
            if (claimed is null)
            {
                var read = await ClaimByReadingAsync(message, stoppingToken);
                if (read.Outcome is { } refused)
                {
                    return refused;
                }

                claimed = read.Claimed!;
                metrics.ClaimedFromRead(readBecause);
            }
            else
            {
                metrics.ClaimedFromMessage();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // A deploy, not a failure: nothing was written, and the delivery goes back without an error in the log.
            return ExecutionOutcome.NotStarted;
        }
        catch
        {
            // The connection failed (a restart, a failover to another clock) or the database refused the claim for
            // another reason: the next claim reads its task, and takes the database's clock from that read.
            databaseClock.Forget();
            throw;
        }

        var (task, attempt, leaseRead, startedTimestamp, queuedAt) = claimed;
        var now = attempt.StartedAt;

        // The reserved and started events (handed to the background publisher; what fails is relayed), ahead of
        // anything a rescue of this claim could write.
        await outbox.PublishSavedAsync(CancellationToken.None);

        // From here on the attempt is ours, unless a slow claim finds it taken back: a stop must not throw before the
        // run, or the claimed task would wait for its lease to expire and be charged an attempt. A stopping host
        // interrupts the run below instead.
        if (await ConfirmSlowClaimAsync(task, attempt, leaseRead) is not { } lease)
        {
            return ExecutionOutcome.Ignored;
        }

        using var registration = running.Register(task.Id, attempt.AttemptNo, lease.ConfirmedAt);
        if (lease.CancelRequested)
        {
            await registration.StopAsync(StopReason.CancelRequested);
        }

        metrics.AttemptStarted(now - queuedAt);
        logger.LogInformation("Task {TaskId} attempt {AttemptNo} started on {WorkerId}", task.Id, attempt.AttemptNo, worker.Id);
        var payload = JsonSerializer.Deserialize<TaskPayload>(task.PayloadJson, JsonDefaults.Options) ?? new TaskPayload();
        // The chat capabilities run the model the task asked for; other skills report their own model (an embedding
        // model, a local engine), which alone names their price.
        var requestedModel = task.Type.Capability is CapabilityType.LLM_Generation or CapabilityType.LLM_Classification or CapabilityType.LLM_Reasoning
            ? payload.Model ?? aiOptions.Value.DefaultModel
            : null;
        var request = new ExecutionRequest(task.Id, task.TenantId, attempt.AttemptNo, task.Type, payload);

        using var timeout = new CancellationTokenSource(options.AttemptTimeout, clock);
        using var run = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token, registration.Token);

        AttemptResult result;
        try
        {
            // An attempt stopped before it begins (a cancel requested while the claim was written) never calls the model.
            registration.Token.ThrowIfCancellationRequested();
            var output = await executor.ExecuteAsync(request, run.Token);
            result = AttemptResult.Success(output);
        }
        catch (OperationCanceledException ex) when (registration.Reason == StopReason.LeaseLost)
        {
            result = AttemptResult.Failure(new TaskExecutionException(ErrorKind.Transient, "LeaseLost", "The worker lost its lease on the task.", UsageOf(ex)));
        }
        catch (OperationCanceledException ex) when (registration.Reason == StopReason.CancelRequested)
        {
            result = AttemptResult.Cancelled(UsageOf(ex));
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested)
        {
            result = AttemptResult.Failure(new TaskExecutionException(ErrorKind.Transient, "Timeout", $"The attempt did not finish within {options.AttemptTimeout}.", UsageOf(ex)));
        }
        catch (OperationCanceledException ex) when (stoppingToken.IsCancellationRequested)
        {
            result = AttemptResult.Interrupted(UsageOf(ex));
        }
        catch (TaskExecutionException ex)
        {
            logger.LogWarning(ex.InnerException ?? ex, "Task {TaskId} attempt {AttemptNo} failed: {ErrorCode} ({ErrorKind})", task.Id, attempt.AttemptNo, ex.Code, ex.Kind);
            result = AttemptResult.Failure(ex);
        }
        catch (Exception ex)
        {
            // The exception's text may name hosts, paths or internals: tenants see a safe message, the log has the detail.
            logger.LogError(ex, "Unexpected error running task {TaskId} attempt {AttemptNo}", task.Id, attempt.AttemptNo);
            result = AttemptResult.Failure(new TaskExecutionException(ErrorKind.Transient, "UnexpectedError", "The worker failed unexpectedly; the operator's logs have the detail.", inner: ex));
        }

        // The run is over: the next delivery may claim while this outcome is written. The outcome is written even while
        // the host stops: the message is acked only after it is stored.
        slot.Dispose();
        try
        {
            return await RecordAsync(task, attempt, requestedModel, result, clock.GetElapsedTime(startedTimestamp), stoppingToken);
        }
        catch
        {
            // The outcome could not be stored (a failover, a database that refuses for now): the next claim reads its task.
            databaseClock.Forget();
            throw;
        }
    }

    /// <summary>
    /// A claim committed: the task and its attempt (tracked), when its lease was last confirmed, the run's start on the
    /// monotonic clock, and when the task was queued.
    /// </summary>
    private sealed record ClaimedAttempt(AiTask Task, TaskAttempt Attempt, ClockReading LeaseRead, long StartedTimestamp, DateTimeOffset QueuedAt);

    /// <summary>
    /// The claim without a read: from the task the work message carried, leased by what this worker knows of the
    /// database's clock (<see cref="DatabaseClock"/>), one round trip in all. No claim, and why (a
    /// <see cref="ClaimReadReason"/>), when the message carries no task, the clock is not known well enough, the message
    /// is older than <see cref="QueuedTask.MaxAge"/>, or the database refused the claim because the task changed since
    /// the message was written (cancelled, claimed by another worker, queued again): the caller then reads the task and
    /// decides on it.
    /// </summary>
    private async Task<(ClaimedAttempt? Claimed, string ReadBecause)> ClaimFromMessageAsync(TaskQueued message, CancellationToken stoppingToken)
    {
        if (QueuedTask.Of(message) is not { State.Status: AiTaskStatus.Queued } queued)
        {
            return (null, ClaimReadReason.NoTaskInMessage);
        }

        if (databaseClock.Now() is not { } databaseNow)
        {
            return (null, ClaimReadReason.ClockUnknown);
        }

        if (!queued.IsRecent(databaseNow.DatabaseNow))
        {
            return (null, ClaimReadReason.MessageNotRecent);
        }

        stoppingToken.ThrowIfCancellationRequested();
        var task = db.AttachQueued(queued);
        try
        {
            return (await ClaimAsync(task, databaseNow.DatabaseNow, databaseNow.AsOf), "");
        }
        catch (DbUpdateException ex) when (ex is DbUpdateConcurrencyException || IsAttemptTaken(ex))
        {
            if (ex is DbUpdateConcurrencyException { InnerException: null } && db.TaskAttempts.Local.FirstOrDefault(a => a.TaskId == task.Id) is { } orphan)
            {
                // Nothing refused the rows, and only the task's update found no row: the batch committed without it. Its
                // attempt would make every later claim of the task fail; it cannot happen within the message's window
                // unless a clock is off by about a day (the purge), and is undone here so that the task stays claimable.
                var outboxIds = db.OutboxMessages.Local.Where(m => m.TaskId == task.Id).Select(m => m.Id).ToList();
                var undone = await db.UndoHalfClaimAsync(task.Id, orphan.AttemptNo, outboxIds, CancellationToken.None);
                logger.LogError("A claim of task {TaskId} from its work message was stored without the task's update; {Undone} attempt undone", message.TaskId, undone);
            }

            logger.LogDebug("Task {TaskId} changed since its work message was written; reading it", message.TaskId);
            db.ClearTracking();
            return (null, ClaimReadReason.TaskChanged);
        }
    }

    /// <summary>
    /// The claim from a read of the task, which also reads the database's clock: the lease runs by it (the clock the
    /// dispatcher judges leases by), so a worker clock running behind cannot get its task rescued early.
    /// </summary>
    private async Task<(ClaimedAttempt? Claimed, ExecutionOutcome? Outcome)> ClaimByReadingAsync(TaskQueued message, CancellationToken stoppingToken)
    {
        var leaseRead = ClockReading.Of(clock);
        var candidate = await db.FindTaskWithDatabaseClockAsync(message.TaskId, stoppingToken);
        if (candidate is not null)
        {
            databaseClock.Observe(candidate.DatabaseNow, leaseRead, ClockReading.Of(clock));
        }

        if (candidate is not { Task.Status: AiTaskStatus.Queued })
        {
            logger.LogInformation("Ignoring TaskQueued for task {TaskId} attempt {Attempt}: task is {Status}", message.TaskId, message.Attempt, candidate?.Task.Status.ToString() ?? "unknown");
            return (null, ExecutionOutcome.Ignored);
        }

        // Once sent the claim is not cancelled (see ClaimAsync): a stop that came during the read ends here.
        stoppingToken.ThrowIfCancellationRequested();
        try
        {
            return (await ClaimAsync(candidate.Task, candidate.DatabaseNow, leaseRead), null);
        }
        catch (DbUpdateException ex) when (ex is DbUpdateConcurrencyException || IsAttemptTaken(ex))
        {
            logger.LogInformation("Task {TaskId} was claimed or changed by someone else; ignoring this delivery", message.TaskId);
            return (null, ExecutionOutcome.Ignored);
        }
    }

    /// <summary>
    /// Reserves and starts the task, leased until <paramref name="databaseNow"/> plus the lease, and saves that.
    /// <para>
    /// The claim is one save in one round trip: the update (conditional on the row version), the attempt and the
    /// events' outbox rows commit together or not at all, one commit (one disk flush) per claim; a claim made from a
    /// state that something else outdated is refused by the database (the task's next event number is taken, or the
    /// attempt's). Once sent it is not cancelled: a stop that cut the commit's answer off would leave a claim made and
    /// its delivery requeued, the task waiting for its lease. A stop arriving during the save lets it finish (within the
    /// command timeout); the run then ends at once as interrupted and the task goes back to the queue without spending
    /// an attempt.
    /// </para>
    /// </summary>
    private async Task<ClaimedAttempt> ClaimAsync(AiTask task, DateTimeOffset databaseNow, ClockReading leaseRead)
    {
        var now = clock.GetUtcNow();
        // The attempt's latency is timed on the monotonic clock: a wall clock stepped during the run (NTP, a resumed VM)
        // would record it wrong, even negative.
        var startedTimestamp = clock.GetTimestamp();
        var queuedAt = task.UpdatedAt;
        task.Reserve(worker.Id, databaseNow + workerOptions.Value.LeaseDuration, now);
        var attempt = task.Start(now);
        db.TaskAttempts.Add(attempt);
        await db.SaveInOneRoundTripAsync(CancellationToken.None);
        return new ClaimedAttempt(task, attempt, leaseRead, startedTimestamp, queuedAt);
    }

    /// <summary>
    /// The lease the claim wrote counts from the database's clock when the task was read, and the attempt's
    /// self-fencing from just before that read. A slow claim (a process compiling its first queries on a busy machine
    /// took 5 to 6 s; a database under strain) has used that much of both before the attempt begins, and the fencing
    /// could stop an attempt whose lease is in fact held. So a claim slower than the margin the heartbeat
    /// leaves renews its lease at once, by the database's clock, and the fencing counts from there. Null: the attempt
    /// must not run here, because the dispatcher took the task back meanwhile (it closed the attempt; nothing of this
    /// worker's is recorded, the model is never called), or because the renewal failed after a claim so slow that the
    /// fencing would stop the attempt anyway (the lease then lapses and the dispatcher retries the task).
    /// </summary>
    private async Task<ConfirmedLease?> ConfirmSlowClaimAsync(AiTask task, TaskAttempt attempt, ClockReading leaseRead)
    {
        var options = workerOptions.Value;
        var confirming = ClockReading.Of(clock);
        var elapsed = confirming.Since(leaseRead);
        if (elapsed <= options.SlowClaimMargin)
        {
            return new ConfirmedLease(leaseRead, false);
        }

        logger.LogInformation("The claim of task {TaskId} attempt {AttemptNo} took {Elapsed}; renewing its lease before the attempt runs", task.Id, attempt.AttemptNo, elapsed);
        try
        {
            var renewed = await db.RenewLeasesAsync(worker.Id, [new AttemptLease(task.Id, attempt.AttemptNo)], options.LeaseDuration, options.RenewalTimeout, CancellationToken.None);
            if (renewed.Count == 0)
            {
                logger.LogWarning("Task {TaskId} attempt {AttemptNo} was taken back while its claim was written; it does not run here", task.Id, attempt.AttemptNo);
                return null;
            }

            return new ConfirmedLease(confirming, renewed[0].CancelRequested);
        }
        catch (Exception ex)
        {
            // Whatever failed, the claim stands committed: the attempt runs, or its lease lapses, as the fencing rule says.
            // Measured again: the failed renewal itself may have taken long.
            var fenced = ClockReading.Of(clock).Since(leaseRead) > options.UnconfirmedLeaseLimit;
            logger.LogWarning(
                ex, "Could not renew the lease of task {TaskId} attempt {AttemptNo} after a slow claim; {Decision}",
                task.Id, attempt.AttemptNo, fenced ? "the attempt does not run and its lease lapses" : "the attempt's own fencing decides");
            return fenced ? null : new ConfirmedLease(leaseRead, false);
        }
    }

    /// <summary>When the lease was last confirmed by the database (by this worker's clocks), and whether a cancel was requested meanwhile.</summary>
    private sealed record ConfirmedLease(ClockReading ConfirmedAt, bool CancelRequested);

    /// <summary>
    /// Two workers claiming the same task at the same moment (a duplicate delivery): the claim's batch inserts its rows
    /// before it updates the task, so the one that commits second fails on a unique key: the first event's number
    /// (reported as a conflict) or the attempt's. It lost the claim; nothing of it was stored.
    /// </summary>
    private static bool IsAttemptTaken(DbUpdateException ex) =>
        ex.InnerException is System.Data.Common.DbException { SqlState: "23505" } inner
        && inner.Message.Contains("IX_TaskAttempts_TaskId_AttemptNo", StringComparison.Ordinal);

    private static ExecutionUsage UsageOf(OperationCanceledException ex) => (ex as AttemptCancelledException)?.Usage ?? ExecutionUsage.Empty;

    /// <summary>
    /// Writes the outcome on the entities tracked since the claim; the row version makes that update conditional.
    /// When something else changed the task meanwhile (cancel request, rescuer), reads it again and decides on
    /// fresh state. A save that fails for another reason (a value the database refuses) ends the attempt as a
    /// recorded permanent error instead of a delivery requeued forever. A lost connection (a restart, a failover) is
    /// waited out, the attempt still registered so its lease is renewed once the database is back, for as long as the
    /// lease lasts (then the dispatcher's rescue decides, as before): giving up at once threw a finished run away, and
    /// the rescue that followed charged the task an attempt (a succeeded one-attempt task ended dead-lettered).
    /// The writes are not cancelled by <paramref name="stoppingToken"/>; a stopping host only stops the waiting.
    /// </summary>
    private async Task<ExecutionOutcome> RecordAsync(AiTask task, TaskAttempt attempt, string? requestedModel, AttemptResult result, TimeSpan elapsed, CancellationToken stoppingToken)
    {
        var usage = Price(requestedModel, result.Usage) with { Elapsed = elapsed };
        long? outageSince = null;
        var conflicts = 0;
        var delay = FirstOutageDelay;
        var reload = false;
        (AttemptStatus Status, DateTimeOffset EndedAt)? unanswered = null;
        while (true)
        {
            if (reload)
            {
                try
                {
                    (task, attempt) = await ReloadAsync(task.Id, attempt.AttemptNo, CancellationToken.None);
                    reload = false;
                }
                catch (Exception ex) when (IsConnectionFailure(ex) && MayWaitOut(outageSince ??= clock.GetTimestamp(), delay, stoppingToken))
                {
                    if (!await WaitOutOutageAsync(task, attempt, ex, delay, stoppingToken))
                    {
                        throw;
                    }

                    delay = Next(delay);
                    continue;
                }
            }

            // A save whose commit may have gone through before its answer was lost: the attempt as this save wrote it
            // (its end time is this worker's clock reading) means it did.
            if (unanswered is { } written && attempt.Status == written.Status && attempt.EndedAt is { } ended && (ended - written.EndedAt).Duration() < TimeSpan.FromMicroseconds(1))
            {
                logger.LogInformation("The outcome of task {TaskId} attempt {AttemptNo} was stored before its connection failed", task.Id, attempt.AttemptNo);
                metrics.AttemptEnded(task, attempt);
                return ExecutionOutcome.Recorded;
            }

            if (task.Status != AiTaskStatus.Running || task.LockedBy != worker.Id || task.AttemptCount != attempt.AttemptNo || attempt.Status != AttemptStatus.Running)
            {
                return await DiscardTakenOverAsync(task, attempt, usage, CancellationToken.None);
            }

            Apply(task, attempt, usage, result);
            try
            {
                await SaveOutcomeAsync(result, CancellationToken.None);
                metrics.AttemptEnded(task, attempt);
                logger.LogInformation(
                    "Task {TaskId} attempt {AttemptNo} ended {AttemptStatus}; task is {Status} (tokens {TokensIn}/{TokensOut}, cost {Cost})",
                    task.Id, attempt.AttemptNo, attempt.Status, task.Status, attempt.TokensIn, attempt.TokensOut, attempt.Cost);
                await outbox.PublishSavedAsync(CancellationToken.None);
                return ExecutionOutcome.Recorded;
            }
            catch (DbUpdateConcurrencyException) when (conflicts++ < MaxSaveRetries)
            {
                reload = true;
            }
            catch (DbUpdateException ex) when (RefusedValue(ex) && result.Error?.Code != StorageErrorCode)
            {
                logger.LogError(ex, "The outcome of task {TaskId} attempt {AttemptNo} could not be stored; recording it as a permanent error", task.Id, attempt.AttemptNo);
                result = AttemptResult.Failure(new TaskExecutionException(
                    ErrorKind.Permanent, StorageErrorCode, "The outcome of the attempt could not be stored; the operator's logs have the detail.", result.Usage));
                reload = true;
            }
            catch (Exception ex) when (IsConnectionFailure(ex) && MayWaitOut(outageSince ??= clock.GetTimestamp(), delay, stoppingToken))
            {
                unanswered = (attempt.Status, attempt.EndedAt!.Value);
                if (!await WaitOutOutageAsync(task, attempt, ex, delay, stoppingToken))
                {
                    throw;
                }

                delay = Next(delay);
                reload = true;
            }
        }

        static TimeSpan Next(TimeSpan delay) => delay * 2 < MaxOutageDelay ? delay * 2 : MaxOutageDelay;
    }

    /// <summary>The first wait after a lost connection; each next one doubles, up to <see cref="MaxOutageDelay"/>.</summary>
    internal static readonly TimeSpan FirstOutageDelay = TimeSpan.FromMilliseconds(200);

    internal static readonly TimeSpan MaxOutageDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether a lost connection is waited out once more: not once a lease's length has passed since the first failure
    /// (by then the lease, last renewed before the outage, has lapsed and the dispatcher may have taken the task
    /// back; the row version keeps a late write from counting, this bound keeps the worker from trying forever), nor
    /// while the host stops. Otherwise the exception goes to the caller: the delivery is requeued, the lease lapses
    /// and the rescue decides.
    /// </summary>
    private bool MayWaitOut(long outageSince, TimeSpan delay, CancellationToken stoppingToken) =>
        !stoppingToken.IsCancellationRequested && clock.GetElapsedTime(outageSince) + delay <= workerOptions.Value.LeaseDuration;

    /// <summary>Waits before the next try; false when the host began to stop meanwhile.</summary>
    private async Task<bool> WaitOutOutageAsync(AiTask task, TaskAttempt attempt, Exception ex, TimeSpan delay, CancellationToken stoppingToken)
    {
        databaseClock.Forget();
        logger.LogWarning(ex, "Could not record task {TaskId} attempt {AttemptNo} (the database connection failed or the database refused for now); trying again in {Delay}", task.Id, attempt.AttemptNo, delay);
        try
        {
            await Task.Delay(delay, clock, stoppingToken);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The connection failed (broken, ended by a restart or failover, timed out), not the data: trying again can succeed.</summary>
    private static bool IsConnectionFailure(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is DbUpdateConcurrencyException)
            {
                return false;
            }

            if (e is System.Data.Common.DbException { IsTransient: true } or TimeoutException)
            {
                return true;
            }
        }

        return false;
    }

    private const string StorageErrorCode = "StorageError";

    /// <summary>The outcome (in one round trip when it is a few rows), and with a success the skill's own writes in the same transaction.</summary>
    private async Task SaveOutcomeAsync(AttemptResult result, CancellationToken cancellationToken)
    {
        if (result.Output?.CommitWithOutcome is not { } commit)
        {
            await db.SaveInOneRoundTripAsync(cancellationToken);
            return;
        }

        await using var transaction = await db.BeginTransactionAsync(cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        try
        {
            await commit(cancellationToken);
        }
        catch (System.Data.Common.DbException ex)
        {
            // Judged like a failed save: a refused value becomes a recorded StorageError, anything else is retried.
            throw new DbUpdateException("The skill's writes that go with the outcome failed.", ex);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// The database refused the data itself (data exception 22xxx, constraint 23xxx, limit 54xxx, a trigger's
    /// P0001): saving it again cannot succeed. A lost connection or a failover is not that: it is retried.
    /// </summary>
    private static bool RefusedValue(DbUpdateException ex) =>
        ex is not DbUpdateConcurrencyException
        && ex.InnerException is System.Data.Common.DbException { SqlState: { } state }
        && (state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("23", StringComparison.Ordinal)
            || state.StartsWith("54", StringComparison.Ordinal) || state == "P0001");

    private async Task<(AiTask Task, TaskAttempt Attempt)> ReloadAsync(Guid taskId, int attemptNo, CancellationToken cancellationToken)
    {
        db.ClearTracking();
        var task = await db.Tasks.FirstAsync(t => t.Id == taskId, cancellationToken);
        var attempt = await db.TaskAttempts.FirstAsync(a => a.TaskId == taskId && a.AttemptNo == attemptNo, cancellationToken);
        return (task, attempt);
    }

    /// <summary>
    /// The dispatcher rescued the task after our lease expired; its decision stands. What this attempt consumed is
    /// still real money: it is recorded on the attempt the dispatcher closed.
    /// </summary>
    private async Task<ExecutionOutcome> DiscardTakenOverAsync(AiTask task, TaskAttempt attempt, AttemptUsage usage, CancellationToken cancellationToken)
    {
        logger.LogWarning("Task {TaskId} attempt {AttemptNo} was taken over while running; discarding its outcome", task.Id, attempt.AttemptNo);
        if (attempt.RecordUsageAfterTakeover(usage))
        {
            await db.SaveChangesAsync(cancellationToken);
            metrics.AttemptUsageRecorded(attempt);
            logger.LogInformation(
                "Recorded the usage of taken-over task {TaskId} attempt {AttemptNo} (tokens {TokensIn}/{TokensOut}, cost {Cost})",
                task.Id, attempt.AttemptNo, attempt.TokensIn, attempt.TokensOut, attempt.Cost);
        }

        return ExecutionOutcome.Ignored;
    }

    private void Apply(AiTask task, TaskAttempt attempt, AttemptUsage usage, AttemptResult result)
    {
        var now = clock.GetUtcNow();
        switch (result)
        {
            case { Output: { } output }:
                attempt.Close(AttemptStatus.Succeeded, usage, now);
                AddArtifacts(task, attempt, output.Artifacts, now);
                task.Succeed(now);
                break;
            case { IsCancelled: true }:
                attempt.Close(AttemptStatus.Cancelled, usage, now, "Cancelled", "Cancelled at the client's request.");
                task.Cancel(now);
                break;
            case { IsInterrupted: true }:
                // A deploy or scale-in is not the task's fault: it goes back to the queue (its queued event puts the
                // work message back) without spending an attempt, unless a cancel was requested meanwhile.
                task.InterruptAttempt(attempt, usage, $"Worker {worker.Id} stopped during the attempt.", now);
                break;
            case { Error: { } error }:
                var policy = new RetryPolicy(taskOptions.Value.RetryBaseDelay, taskOptions.Value.RetryMaxDelay);
                task.FailAttempt(attempt, usage, error.Code, error.Message, error.Kind, policy, Random.Shared.NextDouble(), now);
                break;
            default:
                throw new InvalidOperationException("An attempt result has exactly one outcome.");
        }
    }

    /// <summary>Text and links are stored as they are; a file goes into <c>Files</c> (the tenant's, tied to the task) and the artifact points at it.</summary>
    private void AddArtifacts(AiTask task, TaskAttempt attempt, IReadOnlyList<ArtifactOutput> outputs, DateTimeOffset end)
    {
        for (var i = 0; i < outputs.Count; i++)
        {
            // Artifacts are read back by creation time: one microsecond apart (the column's precision) keeps the skill's order.
            var output = outputs[i];
            var now = end.AddTicks(i * TimeSpan.TicksPerMicrosecond);
            switch (output)
            {
                case { Kind: ArtifactKind.File, Bytes: { Length: > 0 } bytes }:
                    var file = StoredFile.Create(task.TenantId, output.Name ?? "output", output.MediaType, bytes, task.Id, now);
                    db.Files.Add(file);
                    db.TaskArtifacts.Add(TaskArtifact.Reference(task.Id, attempt.AttemptNo, ArtifactKind.File, $"/api/v1/files/{file.Id}", now, output.Name, output.MediaType));
                    break;
                case { Kind: ArtifactKind.Link, Uri: { } uri }:
                    db.TaskArtifacts.Add(TaskArtifact.Reference(task.Id, attempt.AttemptNo, ArtifactKind.Link, uri, now, output.Name, output.MediaType));
                    break;
                case { Kind: ArtifactKind.Text }:
                    db.TaskArtifacts.Add(TaskArtifact.Text(task.Id, attempt.AttemptNo, output.Content ?? "", now, output.Name, output.MediaType));
                    break;
                default:
                    throw new InvalidOperationException($"The {output.Kind} output '{output.Name}' has nothing to store.");
            }
        }
    }

    /// <summary>
    /// Tokens by the model's price per million; units (images, pages, calls) by the model's unit price. A local skill
    /// with no price configured is free; a priced provider without an entry is recorded at 0 with a warning.
    /// </summary>
    private AttemptUsage Price(string? requestedModel, ExecutionUsage usage)
    {
        var price = aiOptions.Value.PriceOf(requestedModel, usage.Model);
        if (price is null && (usage.TokensIn > 0 || usage.TokensOut > 0))
        {
            logger.LogWarning("No price configured for model {Model} (asked for {RequestedModel}); the attempt is recorded at cost 0", usage.Model, requestedModel);
            metrics.PriceMissing(usage.Model);
        }

        return new AttemptUsage(
            usage.Model, usage.TokensIn, usage.TokensOut, price?.InputPerMillion ?? 0, price?.OutputPerMillion ?? 0, usage.Units, usage.Unit, price?.PerUnit ?? 0);
    }

    private sealed record AttemptResult(ExecutionResult? Output, TaskExecutionException? Error, bool IsCancelled, bool IsInterrupted, ExecutionUsage Usage)
    {
        public static AttemptResult Success(ExecutionResult output) => new(output, null, false, false, output.Usage);

        public static AttemptResult Failure(TaskExecutionException error) => new(null, error, false, false, error.Usage);

        public static AttemptResult Cancelled(ExecutionUsage usage) => new(null, null, true, false, usage);

        public static AttemptResult Interrupted(ExecutionUsage usage) => new(null, null, false, true, usage);
    }
}

/// <summary>Names this worker instance in <c>Tasks.LockedBy</c>.</summary>
public sealed record WorkerIdentity(string Id);
