using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics.Metrics;
using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIa.Infrastructure.Persistence;
using AssistenteIaApi.ServiceB.Worker;
using AssistenteIaApi.ServiceB.Worker.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>The claim on real Postgres: executors racing for one delivery never run the same attempt twice.</summary>
[Collection(AppCollection.Name)]
public sealed class ClaimTests(AppFixture fixture)
{
    [Fact]
    public async Task Two_workers_handling_the_same_message_at_once_run_one_attempt()
    {
        using var workerA = await BuildWorkerAsync();
        using var workerB = await BuildWorkerAsync();
        await using var scopeA = workerA.Services.CreateAsyncScope();
        await using var scopeB = workerB.Services.CreateAsyncScope();
        var task = await InsertTaskAsync();
        var message = new TaskQueued(task.Id, task.Type.ToString(), 1, task.CorrelationId);

        var outcomes = await Task.WhenAll(
            scopeA.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(message, CancellationToken.None),
            scopeB.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(message, CancellationToken.None));

        Assert.Single(outcomes, o => o == ExecutionOutcome.Recorded);
        Assert.Single(outcomes, o => o == ExecutionOutcome.Ignored);
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal("Succeeded", await StatusAsync(task.Id));
    }

    [Fact]
    public async Task A_claim_that_finds_its_attempt_already_written_is_ignored_and_changes_nothing()
    {
        // What the second of two workers claiming at the same moment meets: the first one's attempt row, committed
        // while its own batch waited on it, so its insert fails on the attempt's unique key before its update runs.
        using var worker = await BuildWorkerAsync();
        var task = await InsertTaskAsync();
        await using (var other = NewContext())
        {
            // The other worker's attempt alone: its claim's update of the task is not written, or the status check
            // would ignore the delivery before the claim.
            var seen = await other.Tasks.SingleAsync(t => t.Id == task.Id);
            seen.Reserve("other-worker", DateTimeOffset.UtcNow.AddSeconds(30), DateTimeOffset.UtcNow);
            var attempt = seen.Start(DateTimeOffset.UtcNow);
            other.Entry(seen).State = EntityState.Detached;
            other.TaskAttempts.Add(attempt);
            await other.SaveChangesAsync();
        }

        await using var scope = worker.Services.CreateAsyncScope();
        var outcome = await scope.ServiceProvider.GetRequiredService<ExecuteTaskHandler>()
            .HandleAsync(new TaskQueued(task.Id, task.Type.ToString(), 1, task.CorrelationId), CancellationToken.None);

        Assert.Equal(ExecutionOutcome.Ignored, outcome);
        Assert.Equal("Queued", await StatusAsync(task.Id));
        // Only the rows its creation wrote (created and queued in one row, the work message): no reserved or started event.
        Assert.Equal(2L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal("created,queued", await EventNamesAsync(task.Id));
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));

        await RetireAsync(task);
    }

    [Fact]
    public async Task With_one_slot_a_second_delivery_waits_for_the_run_and_not_for_the_outcome_being_written()
    {
        var executor = new HeldExecutor();
        using var worker = await BuildWorkerAsync(configure: builder => OneSlot(builder, executor));
        var first = await InsertTaskAsync();
        var second = await InsertTaskAsync();
        await using var scopeA = worker.Services.CreateAsyncScope();
        await using var scopeB = worker.Services.CreateAsyncScope();

        var runFirst = HandleAsync(scopeA, first);
        await executor.Started(first.Id).WaitAsync(TimeSpan.FromSeconds(30));

        // The first attempt runs: the second delivery neither reads nor claims its task until the run ends.
        var runSecond = HandleAsync(scopeB, second);
        await Assert.ThrowsAsync<TimeoutException>(() => executor.Started(second.Id).WaitAsync(TimeSpan.FromSeconds(1)));
        Assert.Equal("Queued", await StatusAsync(second.Id));
        Assert.Equal(0, worker.Services.GetRequiredService<ExecutionSlots>().Free);

        // The first run ends while another session holds its task's row, so its outcome cannot be written yet: the
        // slot is free all the same, and the second task is claimed, run and recorded meanwhile.
        await using (var holder = await HoldTaskRowAsync(first.Id))
        {
            executor.Release(second.Id);
            executor.Release(first.Id);
            Assert.Equal(ExecutionOutcome.Recorded, await runSecond.WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.False(runFirst.IsCompleted);
            Assert.Equal("Running", await StatusAsync(first.Id));
        }

        Assert.Equal(ExecutionOutcome.Recorded, await runFirst.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("Succeeded", await StatusAsync(first.Id));
        Assert.Equal("Succeeded", await StatusAsync(second.Id));
        Assert.Equal(1, worker.Services.GetRequiredService<ExecutionSlots>().Free);
    }

    [Fact]
    public async Task A_delivery_still_waiting_for_a_slot_when_the_host_stops_is_given_back_untouched()
    {
        var executor = new HeldExecutor();
        using var worker = await BuildWorkerAsync(configure: builder => OneSlot(builder, executor));
        var running = await InsertTaskAsync();
        var waiting = await InsertTaskAsync();
        await using var scopeA = worker.Services.CreateAsyncScope();
        await using var scopeB = worker.Services.CreateAsyncScope();
        var runFirst = HandleAsync(scopeA, running);
        await executor.Started(running.Id).WaitAsync(TimeSpan.FromSeconds(30));

        // Through the subscription's own handler: the delivery is given back (nacked with requeue), not acked.
        using var stopping = new CancellationTokenSource();
        var runWaiting = DeliverAsync(scopeB, waiting, stopping.Token);
        await stopping.CancelAsync();

        Assert.Equal(DeliveryOutcome.Requeue, await runWaiting.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("Queued", await StatusAsync(waiting.Id));
        Assert.Equal(0L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", waiting.Id));
        Assert.False(executor.Started(waiting.Id).IsCompleted);

        executor.Release(running.Id);
        Assert.Equal(ExecutionOutcome.Recorded, await runFirst.WaitAsync(TimeSpan.FromSeconds(30)));
        await RetireAsync(waiting);
    }

    [Fact]
    public async Task A_stop_during_the_claim_read_gives_the_delivery_back_without_an_error()
    {
        var read = new SlowCommand(IsClaimRead);
        using var worker = await BuildWorkerAsync(configure: builder => builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(read)));
        var task = await InsertTaskAsync();
        using var stopping = new CancellationTokenSource();
        read.Arm(async cancellationToken =>
        {
            // The host stops while the task is being read: the read is cancelled with it.
            await stopping.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
        });

        await using var scope = worker.Services.CreateAsyncScope();
        var outcome = await DeliverAsync(scope, task, stopping.Token);

        Assert.Equal(DeliveryOutcome.Requeue, outcome);
        Assert.Equal("Queued", await StatusAsync(task.Id));
        Assert.Equal(0L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal(1, worker.Services.GetRequiredService<ExecutionSlots>().Free);
        await RetireAsync(task);
    }

    [Fact]
    public async Task A_connection_lost_during_the_claim_read_gives_the_slot_back_and_the_next_delivery_runs()
    {
        var read = new SlowCommand(IsClaimRead);
        var executor = new HeldExecutor();
        using var worker = await BuildWorkerAsync(configure: builder =>
        {
            OneSlot(builder, executor);
            builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(read));
        });
        var task = await InsertTaskAsync();
        // The connection the read is about to use is open; its server process is ended before the query is sent, as
        // a database restart or failover ends it (57P01), without disturbing the running system's other connections.
        read.Arm(async _ =>
        {
            var backend = ((NpgsqlConnection)read.Held!.Connection!).ProcessID;
            Assert.True(await fixture.ScalarAsync<bool>("SELECT pg_terminate_backend(@p0)", backend));
        });

        await using (var scope = worker.Services.CreateAsyncScope())
        {
            // EF reports the broken connection as a transient failure (the workers retry by redelivery, not in EF).
            var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => HandleAsync(scope, task).WaitAsync(TimeSpan.FromSeconds(60)));
            Assert.IsAssignableFrom<NpgsqlException>(failed.InnerException);
        }

        // The failed delivery wrote nothing and holds no slot: the broker's redelivery is claimed and run.
        Assert.Equal(1, worker.Services.GetRequiredService<ExecutionSlots>().Free);
        Assert.Equal("Queued", await StatusAsync(task.Id));
        await using (var scope = worker.Services.CreateAsyncScope())
        {
            executor.Release(task.Id);
            Assert.Equal(ExecutionOutcome.Recorded, await HandleAsync(scope, task).WaitAsync(TimeSpan.FromSeconds(60)));
        }

        Assert.Equal("Succeeded", await StatusAsync(task.Id));
        Assert.Equal(1, worker.Services.GetRequiredService<ExecutionSlots>().Free);
    }

    [Fact]
    public async Task A_connection_lost_while_the_outcome_is_written_is_waited_out_and_the_run_is_recorded_once()
    {
        // A task with one attempt: a run thrown away used to come back as a rescued lease, charged as the only attempt,
        // and the task that had succeeded ended dead-lettered.
        var outcome = new SlowCommand(IsOutcomeSave);
        using var worker = await BuildWorkerAsync(configure: builder => builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(outcome)));
        var task = await InsertTaskAsync(latencyMs: 0, maxAttempts: 1);
        // The outcome's connection is open; its server process is ended before the batch is sent (57P01, as a restart
        // or failover ends it), so nothing of the outcome reaches the database.
        outcome.Arm(async _ =>
        {
            var backend = ((NpgsqlConnection)outcome.Held!.Connection!).ProcessID;
            Assert.True(await fixture.ScalarAsync<bool>("SELECT pg_terminate_backend(@p0)", backend));
        });

        await using (var scope = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(ExecutionOutcome.Recorded, await HandleAsync(scope, task).WaitAsync(TimeSpan.FromSeconds(60)));
        }

        Assert.Equal("Succeeded", await StatusAsync(task.Id));
        Assert.Equal("Succeeded", await fixture.ScalarAsync<string>("""SELECT string_agg("Status", ',') FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "TaskId" = @p0 AND "MessageType" = 'task.succeeded'""", task.Id));
        Assert.Equal(1, worker.Services.GetRequiredService<ExecutionSlots>().Free);
    }

    [Fact]
    public async Task A_change_to_the_task_after_a_long_outage_is_still_read_again_not_thrown()
    {
        // Five lost connections in a row (6.2 s of waiting), then a change by someone else (a client's cancel request,
        // saved as the API saves it) lands before the save: the conflict is handled like any other, not counted against
        // the waits.
        var outcome = new SlowCommand(IsOutcomeSave);
        using var worker = await BuildWorkerAsync(configure: builder => builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(outcome)));
        var task = await InsertTaskAsync(latencyMs: 0, maxAttempts: 1);
        var saves = 0;
        outcome.Arm(
            async _ =>
            {
                if (++saves <= 5)
                {
                    Assert.True(await fixture.ScalarAsync<bool>("SELECT pg_terminate_backend(@p0)", ((NpgsqlConnection)outcome.Held!.Connection!).ProcessID));
                }
                else
                {
                    await using var api = NewContext();
                    (await api.Tasks.SingleAsync(t => t.Id == task.Id, CancellationToken.None)).RequestCancel(DateTimeOffset.UtcNow);
                    await api.SaveChangesAsync(CancellationToken.None);
                }
            },
            times: 6);

        await using (var scope = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(ExecutionOutcome.Recorded, await HandleAsync(scope, task).WaitAsync(TimeSpan.FromSeconds(60)));
        }

        Assert.Equal(6, saves);
        Assert.Equal("Succeeded", await StatusAsync(task.Id));
        Assert.Equal("Succeeded", await fixture.ScalarAsync<string>("""SELECT string_agg("Status", ',') FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
    }

    [Fact]
    public async Task An_outcome_committed_before_its_answer_was_lost_is_recognised_and_not_written_again()
    {
        var committed = new LostCommitAnswer(IsOutcomeSave);
        using var worker = await BuildWorkerAsync(configure: builder => builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(committed)));
        var task = await InsertTaskAsync(latencyMs: 0, maxAttempts: 1);

        await using (var scope = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(ExecutionOutcome.Recorded, await HandleAsync(scope, task).WaitAsync(TimeSpan.FromSeconds(60)));
        }

        Assert.True(committed.Lost);
        Assert.Equal("Succeeded", await StatusAsync(task.Id));
        Assert.Equal("Succeeded", await fixture.ScalarAsync<string>("""SELECT string_agg("Status", ',') FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "TaskId" = @p0 AND "MessageType" = 'task.succeeded'""", task.Id));
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskArtifacts" WHERE "TaskId" = @p0""", task.Id));
    }

    [Fact]
    public async Task A_task_is_read_claimed_and_recorded_in_three_round_trips_without_a_transaction()
    {
        // The read, the claim's batch, the outcome's batch; each save is its own implicit transaction (stale saves are
        // refused by the database: OneRoundTripSaveTests). Only statements on the task and its attempts are counted: not
        // a lease renewal after a slow claim, nor the sent marks of events published while a listener is live.
        var trips = new RoundTrips(sql => !IsRenewal(sql) && (sql.Contains("\"Tasks\"", StringComparison.Ordinal) || sql.Contains("\"TaskAttempts\"", StringComparison.Ordinal)));
        using var worker = await BuildWorkerAsync(configure: builder => builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(trips)));
        using var claims = Claims(worker);
        var task = await InsertTaskAsync(latencyMs: 0);
        trips.Reset();

        await using (var scope = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(ExecutionOutcome.Recorded, await HandleAsync(scope, task));
        }

        Assert.Equal((3, 0), (trips.Batches, trips.Transactions));
        Assert.Equal(["read/no_task_in_message"], ClaimsCounted(claims));
        Assert.Equal("Succeeded", await StatusAsync(task.Id));
    }

    [Fact]
    public async Task A_work_message_that_carries_its_task_is_claimed_and_recorded_in_two_round_trips()
    {
        // The worker knows the database's clock (as from an earlier read): the task is claimed from its message. Only
        // statements on the task and its attempts are counted.
        var trips = new RoundTrips(sql => !IsRenewal(sql) && (sql.Contains("\"Tasks\"", StringComparison.Ordinal) || sql.Contains("\"TaskAttempts\"", StringComparison.Ordinal)));
        using var worker = await BuildWorkerAsync(configure: builder => builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(trips)));
        var second = await InsertTaskAsync(latencyMs: 0);
        Assert.NotNull(QueuedTask.Of(await WorkMessageAsync(second)));

        await KnowTheDatabaseClockAsync(worker);
        using var claims = Claims(worker);
        trips.Reset();
        Assert.Equal(ExecutionOutcome.Recorded, await HandleWorkMessageAsync(worker, second));

        Assert.Equal((2, 0), (trips.Batches, trips.Transactions));
        Assert.Equal(["message"], ClaimsCounted(claims));
        Assert.Equal("Succeeded", await StatusAsync(second.Id));
        Assert.Equal("created,queued,reserved,started,succeeded", await EventNamesAsync(second.Id));
    }

    [Fact]
    public async Task A_work_message_whose_task_was_queued_again_since_is_claimed_from_a_read_of_the_task()
    {
        var reads = new RoundTrips(IsClaimRead);
        using var worker = await BuildWorkerAsync(configure: builder => builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(reads)));
        await KnowTheDatabaseClockAsync(worker);
        var task = await InsertTaskAsync(latencyMs: 0);
        var stale = await WorkMessageAsync(task);
        await using (var db = NewContext())
        {
            // The stale-queue requeuer's change: an event, a new version, the task still queued.
            var stored = await db.Tasks.SingleAsync(t => t.Id == task.Id);
            stored.Requeue(DateTimeOffset.UtcNow.AddMinutes(1));
            await db.SaveChangesAsync();
        }

        reads.Reset();
        using var claims = Claims(worker);
        await using (var scope = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(ExecutionOutcome.Recorded, await scope.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(stale, CancellationToken.None));
        }

        Assert.Equal(1, reads.Batches);
        Assert.Equal(["read/task_changed"], ClaimsCounted(claims));
        Assert.Equal("Succeeded", await StatusAsync(task.Id));
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal("created,queued,requeued,reserved,started,succeeded", await EventNamesAsync(task.Id));
    }

    [Theory]
    [InlineData(true)] // days old (a backlog, a dead letter re-driven): claimed from a read
    [InlineData(false)] // within the window, the rows purged early (a clock off by a day): the stored half is undone
    public async Task A_stale_work_message_whose_missed_events_were_purged_leaves_the_task_claimable(bool daysOld)
    {
        // The task was queued again twice since the message, and the rows of those events purged: nothing is left that a
        // claim from the message would collide with, so it would store its attempt and events without its task's update
        // (whose version check fails only after the batch committed), and the task could never be claimed again.
        using var worker = await BuildWorkerAsync();
        await KnowTheDatabaseClockAsync(worker);
        var task = await InsertTaskAsync(latencyMs: 0);
        var message = await WorkMessageAsync(task);
        var queued = QueuedTask.Of(message)!;
        var stale = daysOld ? message with { Task = queued with { State = queued.State with { UpdatedAt = queued.State.UpdatedAt.AddDays(-2) } } } : message;
        await using (var db = NewContext())
        {
            var stored = await db.Tasks.SingleAsync(t => t.Id == task.Id);
            stored.Requeue(DateTimeOffset.UtcNow.AddMinutes(1));
            await db.SaveChangesAsync();
            stored.Requeue(DateTimeOffset.UtcNow.AddMinutes(1));
            await db.SaveChangesAsync();
        }

        await Sql.ExecuteAsync(fixture.DatabaseConnectionString, $"""DELETE FROM "OutboxMessages" WHERE "TaskId" = '{task.Id}' AND "MessageType" = 'task.requeued'""");

        using var claims = Claims(worker);
        await using (var scope = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(ExecutionOutcome.Recorded, await scope.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(stale, CancellationToken.None));
        }

        Assert.Equal([daysOld ? "read/message_not_recent" : "read/task_changed"], ClaimsCounted(claims));

        Assert.Equal("Succeeded", await StatusAsync(task.Id));
        Assert.Equal("Succeeded", await fixture.ScalarAsync<string>("""SELECT string_agg("Status", ',') FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal("created,queued,reserved,started,succeeded", await EventNamesAsync(task.Id));
    }

    [Fact]
    public async Task A_new_worker_reads_its_first_task_for_the_database_clock_and_counts_how_each_claim_was_made()
    {
        using var worker = await BuildWorkerAsync();
        using var claims = Claims(worker);
        var first = await InsertTaskAsync(latencyMs: 0);
        var second = await InsertTaskAsync(latencyMs: 0);

        Assert.Equal(ExecutionOutcome.Recorded, await HandleWorkMessageAsync(worker, first));

        // That read taught the worker the clock, unless it was too slow to (a cold start on a busy machine): made sure of.
        await KnowTheDatabaseClockAsync(worker);
        Assert.Equal(ExecutionOutcome.Recorded, await HandleWorkMessageAsync(worker, second));

        // What an operator reads to see how many claims took a round trip more, and why.
        Assert.Equal(["read/clock_unknown", "message"], ClaimsCounted(claims));
        Assert.Equal("Succeeded,Succeeded", $"{await StatusAsync(first.Id)},{await StatusAsync(second.Id)}");
    }

    [Fact]
    public async Task A_claim_from_a_message_whose_connection_is_cut_goes_back_to_the_queue_and_the_next_one_reads_the_task()
    {
        // A database restart or a failover during the claim: nothing is stored, the delivery is requeued (the exception
        // reaches the subscription), and the clock is forgotten, since the database that answers next may keep another.
        var claim = new SlowCommand(sql => sql.Contains("INSERT INTO \"TaskAttempts\"", StringComparison.Ordinal));
        var reads = new RoundTrips(IsClaimRead);
        using var worker = await BuildWorkerAsync(configure: builder => builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(claim, reads)));
        await KnowTheDatabaseClockAsync(worker);
        var task = await InsertTaskAsync(latencyMs: 0);
        claim.Arm(async _ => Assert.True(await fixture.ScalarAsync<bool>("SELECT pg_terminate_backend(@p0)", ((NpgsqlConnection)claim.Held!.Connection!).ProcessID)));

        await Assert.ThrowsAnyAsync<Exception>(() => HandleWorkMessageAsync(worker, task));

        Assert.Null(worker.Services.GetRequiredService<DatabaseClock>().Now());
        Assert.Equal("Queued", await StatusAsync(task.Id));
        Assert.Equal(0L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));

        reads.Reset();
        Assert.Equal(ExecutionOutcome.Recorded, await HandleWorkMessageAsync(worker, task));
        Assert.Equal(1, reads.Batches);
        Assert.Equal("Succeeded", await StatusAsync(task.Id));
    }

    [Fact]
    public async Task A_work_message_whose_task_was_cancelled_since_is_ignored_and_changes_nothing()
    {
        using var worker = await BuildWorkerAsync();
        await KnowTheDatabaseClockAsync(worker);
        var task = await InsertTaskAsync(latencyMs: 0);
        var stale = await WorkMessageAsync(task);
        await using (var db = NewContext())
        {
            var stored = await db.Tasks.SingleAsync(t => t.Id == task.Id);
            Assert.Equal(CancelOutcome.Cancelled, stored.RequestCancel(DateTimeOffset.UtcNow));
            await db.SaveChangesAsync();
        }

        await using (var scope = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(ExecutionOutcome.Ignored, await scope.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(stale, CancellationToken.None));
        }

        Assert.Equal("Cancelled", await StatusAsync(task.Id));
        Assert.Equal(0L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal("created,queued,cancelled", await EventNamesAsync(task.Id));
    }

    [Fact]
    public async Task Two_workers_claiming_one_task_from_its_message_at_once_run_one_attempt()
    {
        using var workerA = await BuildWorkerAsync();
        using var workerB = await BuildWorkerAsync();
        await KnowTheDatabaseClockAsync(workerA);
        await KnowTheDatabaseClockAsync(workerB);
        var task = await InsertTaskAsync(latencyMs: 0);

        var outcomes = await Task.WhenAll(HandleWorkMessageAsync(workerA, task), HandleWorkMessageAsync(workerB, task));

        Assert.Single(outcomes, o => o == ExecutionOutcome.Recorded);
        Assert.Single(outcomes, o => o == ExecutionOutcome.Ignored);
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        Assert.Equal("created,queued,reserved,started,succeeded", await EventNamesAsync(task.Id));
    }

    [Fact]
    public async Task A_message_for_a_finished_task_is_ignored()
    {
        using var worker = await BuildWorkerAsync();
        var task = await InsertTaskAsync();
        var message = new TaskQueued(task.Id, task.Type.ToString(), 1, task.CorrelationId);

        await using (var first = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(ExecutionOutcome.Recorded, await first.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(message, CancellationToken.None));
        }

        await using var second = worker.Services.CreateAsyncScope();
        Assert.Equal(ExecutionOutcome.Ignored, await second.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(message, CancellationToken.None));
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));

        await RetireAsync(task);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the clock carried forward from an earlier reading, with no read of this task
    public async Task A_worker_whose_clock_runs_behind_leases_the_task_by_the_database_clock(bool fromItsWorkMessage)
    {
        var reads = new RoundTrips(IsClaimRead);
        using var worker = await BuildWorkerAsync(
            new ShiftedClock(TimeSpan.FromMinutes(-10)), builder => builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(reads)));
        if (fromItsWorkMessage)
        {
            await KnowTheDatabaseClockAsync(worker);
        }

        var task = await InsertTaskAsync(latencyMs: 3_000);
        reads.Reset();
        var handling = fromItsWorkMessage ? HandleWorkMessageAsync(worker, task) : HandleAsync(worker, task);

        // By the worker's clock the lease would have ended ten minutes ago, and the dispatcher would rescue the task
        // while it runs.
        var leaseLeft = await Eventually.UntilAsync(
            () => fixture.ScalarAsync<double?>("""SELECT extract(epoch FROM "LockedUntil" - now())::float8 FROM "Tasks" WHERE "Id" = @p0 AND "Status" = 'Running'""", task.Id),
            left => left is not null,
            TimeSpan.FromSeconds(30),
            "the task to run");
        var lease = worker.Services.GetRequiredService<IOptions<WorkerOptions>>().Value.LeaseDuration.TotalSeconds;
        Assert.InRange(leaseLeft!.Value, lease - 10, lease + 0.5);
        Assert.Equal(ExecutionOutcome.Recorded, await handling);
        Assert.Equal(fromItsWorkMessage ? 0 : 1, reads.Batches);
    }

    [Fact]
    public async Task An_attempt_is_timed_on_the_monotonic_clock_not_by_a_wall_clock_stepped_back_meanwhile()
    {
        // CI met an 8 s attempt recorded shorter than 8 s. A wall clock stepped during the run (NTP, a resumed VM)
        // moves its start and end times; here it runs backwards, so they alone would make the latency negative.
        using var worker = await BuildWorkerAsync(new BackwardsClock());
        await using var scope = worker.Services.CreateAsyncScope();
        var task = await InsertTaskAsync(latencyMs: 400);

        Assert.Equal(ExecutionOutcome.Recorded, await HandleAsync(scope, task));

        var latency = await fixture.ScalarAsync<long>("""SELECT "LatencyMs" FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id);
        Assert.InRange(latency, 400 - TaskApi.TimerEarlyToleranceMs, 30_000);
    }

    [Fact]
    public async Task A_wall_clock_stepped_forward_during_an_attempt_does_not_stop_it_while_the_database_confirms_its_lease()
    {
        // By the wall clock the lease went unconfirmed for an hour; the monotonic clock and the database disagree, and
        // the renewal they allow settles it: the attempt runs to the end instead of failing with LeaseLost.
        var clock = new ShiftedClock(TimeSpan.Zero);
        using var worker = await BuildWorkerAsync(clock);
        await using var scope = worker.Services.CreateAsyncScope();
        var task = await InsertTaskAsync(latencyMs: 8_000); // long enough to be running when the heartbeat below comes
        var handling = HandleAsync(scope, task);
        await WaitUntilRunningAsync(worker);

        clock.Shift = TimeSpan.FromHours(1);
        await using (var heartbeat = worker.Services.CreateAsyncScope())
        {
            Assert.Equal(1, await heartbeat.ServiceProvider.GetRequiredService<RenewLeasesHandler>().HandleAsync(CancellationToken.None));
        }

        Assert.Equal(ExecutionOutcome.Recorded, await handling);
        Assert.Equal("Succeeded", await StatusAsync(task.Id));
    }

    [Fact]
    public async Task The_claim_reads_the_lease_clock_from_the_database_in_the_query_that_reads_the_task()
    {
        // Not the worker's clock, not even when it agrees with the database's: inside a transaction now() stands still,
        // so only a value the query itself read from the database equals it to the microsecond.
        var task = await InsertTaskAsync(queued: false);
        await using var db = NewContext();
        await using var transaction = await db.Database.BeginTransactionAsync();
        var transactionNow = await db.Database.SqlQuery<DateTimeOffset>($"""SELECT now() AS "Value" """).SingleAsync();

        var candidate = await db.FindTaskWithDatabaseClockAsync(task.Id, CancellationToken.None);

        Assert.NotNull(candidate);
        Assert.Equal(transactionNow, candidate.DatabaseNow);
        Assert.Same(candidate.Task, db.ChangeTracker.Entries<AiTask>().Single().Entity);
    }

    [Fact]
    public async Task A_claim_slower_than_the_lease_margin_renews_its_lease_and_the_attempt_runs_to_the_end()
    {
        // What CI met on a cold replica: its first read of a task took 5 s (queries compiled on a busy machine), longer
        // than a 5 s lease leaves before the heartbeat's self-fencing, which counted from before that read and stopped
        // the attempt at its first beat although the database still gave the lease to this worker.
        var slowRead = new SlowCommand(IsClaimRead);
        using var worker = await BuildWorkerAsync(configure: builder => ShortLease(builder, 5, 0.5, slowRead));
        await WithHeartbeatAsync(worker, async scope =>
        {
            var task = await InsertTaskAsync(latencyMs: 2_000);
            slowRead.Arm(cancellationToken => Task.Delay(TimeSpan.FromSeconds(5), cancellationToken));

            var outcome = await HandleAsync(scope, task);

            Assert.Equal(ExecutionOutcome.Recorded, outcome);
            Assert.Equal("Succeeded", await StatusAsync(task.Id));
            Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0""", task.Id));
        });
    }

    /// <summary>
    /// A lease of 6 s renewed every 2 s, the defaults' ratio: the attempt fences itself 4 s after its last confirmed
    /// renewal. Renewals the database refuses (a connection reset, a restart) must be tried again within that time:
    /// a heartbeat that waits a whole interval after one failure stopped every running attempt after two.
    /// </summary>
    [Fact]
    public async Task Renewals_that_fail_are_tried_again_before_the_lease_runs_out_and_the_attempt_runs_to_the_end()
    {
        var renewal = new SlowCommand(IsRenewal);
        await RunWithHeartbeatAsync(renewal, () => renewal.Arm(_ => Task.FromException(new TimeoutException("The connection was reset.")), times: 2));
    }

    /// <summary>
    /// The same lease, and a renewal that never answers (a pooled connection to a database cut off, which Npgsql waits
    /// on for its whole command timeout): the heartbeat must not wait on it past the fence.
    /// </summary>
    [Fact]
    public async Task A_renewal_that_never_answers_does_not_hold_the_heartbeat_and_the_attempt_runs_to_the_end()
    {
        var renewal = new SlowCommand(IsRenewal);
        await RunWithHeartbeatAsync(renewal, () => renewal.Arm(cancellationToken => Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken)));
    }

    [Fact]
    public async Task Renewals_that_never_answer_are_not_piled_up_without_limit()
    {
        // Each one left unanswered holds a pooled connection until Npgsql's timeouts end it.
        var renewal = new SlowCommand(IsRenewal);
        var held = 0;
        var mostHeld = 0;
        using var worker = await BuildWorkerAsync(configure: builder => ShortLease(builder, 30, 0.2, renewal));
        await WithHeartbeatAsync(worker, async scope =>
        {
            var task = await InsertTaskAsync(latencyMs: 3_000);
            var handling = HandleAsync(scope, task);
            await WaitUntilRunningAsync(worker);
            renewal.Arm(
                async cancellationToken =>
                {
                    var now = Interlocked.Increment(ref held);
                    InterlockedMax(ref mostHeld, now);
                    try
                    {
                        await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref held);
                    }
                },
                times: int.MaxValue);

            // 3 s of beats: another one each time the last has not answered for 0.1 s.
            Assert.Equal(ExecutionOutcome.Recorded, await handling);
            Assert.Equal(LeaseHeartbeatService.MaxUnanswered, Volatile.Read(ref mostHeld));
        });

        static void InterlockedMax(ref int target, int value)
        {
            for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
            {
                if (Interlocked.CompareExchange(ref target, value, seen) == seen)
                {
                    return;
                }
            }
        }
    }

    [Fact]
    public async Task A_claim_written_after_its_lease_ended_and_taken_back_meanwhile_never_calls_the_model()
    {
        // The claim's write waits past the whole lease (2 s here); the running dispatcher rescues the task once it
        // commits, and the worker's renewal finds the lease gone.
        var slowClaim = new SlowCommand(sql => sql.Contains("INSERT INTO \"TaskAttempts\"", StringComparison.Ordinal));
        var slowRenewal = new SlowCommand(IsRenewal);
        using var worker = await BuildWorkerAsync(configure: builder => ShortLease(builder, 2, 0.5, slowClaim, slowRenewal));
        await using var scope = worker.Services.CreateAsyncScope();
        var task = await InsertTaskAsync();
        slowClaim.Arm(cancellationToken => Task.Delay(TimeSpan.FromSeconds(2.5), cancellationToken));
        slowRenewal.Arm(_ => Eventually.UntilAsync(
            () => fixture.ScalarAsync<long>("""SELECT count(*) FROM "TaskAttempts" WHERE "TaskId" = @p0 AND "ErrorCode" = 'LeaseExpired'""", task.Id),
            rescued => rescued == 1,
            TimeSpan.FromSeconds(30),
            "the dispatcher to take the task back"));

        Assert.Equal(ExecutionOutcome.Ignored, await HandleAsync(scope, task));

        // Nothing was sent to the model: the attempt the dispatcher closed carries no usage from this worker.
        Assert.Equal(0L, await fixture.ScalarAsync<long>("""SELECT "TokensIn" FROM "TaskAttempts" WHERE "TaskId" = @p0 AND "AttemptNo" = 1""", task.Id));
        await WaitForSucceededAsync(task);
    }

    [Fact]
    public async Task A_renewal_that_fails_after_a_claim_past_the_fencing_margin_leaves_the_attempt_unrun_and_the_task_is_retried()
    {
        // 2 s to read the task under a 2 s lease renewed every 0.5 s: past the 1.5 s the heartbeat allows, and the
        // database does not answer the renewal. The heartbeat would stop the attempt at its first beat; it never starts.
        var slowRead = new SlowCommand(IsClaimRead);
        var failingRenewal = new SlowCommand(IsRenewal);
        using var worker = await BuildWorkerAsync(configure: builder => ShortLease(builder, 2, 0.5, slowRead, failingRenewal));
        await using var scope = worker.Services.CreateAsyncScope();
        var task = await InsertTaskAsync();
        slowRead.Arm(cancellationToken => Task.Delay(TimeSpan.FromSeconds(2), cancellationToken));
        failingRenewal.Arm(_ => Task.FromException(new TimeoutException("The database did not answer.")));

        Assert.Equal(ExecutionOutcome.Ignored, await HandleAsync(scope, task));

        // The lease lapses; the dispatcher closes attempt 1 without usage and the running executor runs attempt 2.
        await WaitForSucceededAsync(task);
        Assert.Equal("LeaseExpired", await fixture.ScalarAsync<string>("""SELECT "ErrorCode" FROM "TaskAttempts" WHERE "TaskId" = @p0 AND "AttemptNo" = 1""", task.Id));
        Assert.Equal(0L, await fixture.ScalarAsync<long>("""SELECT "TokensIn" FROM "TaskAttempts" WHERE "TaskId" = @p0 AND "AttemptNo" = 1""", task.Id));
    }

    [Fact]
    public async Task A_cancel_requested_while_a_slow_claim_was_written_stops_the_attempt_before_the_model_is_called()
    {
        // The cancel signal found no attempt registered yet (the claim was still being written); the renewal reads
        // the flag the API set on the row.
        var slowRead = new SlowCommand(IsClaimRead);
        var renewal = new SlowCommand(IsRenewal);
        using var worker = await BuildWorkerAsync(configure: builder => ShortLease(builder, 5, 0.5, slowRead, renewal));
        await using var scope = worker.Services.CreateAsyncScope();
        var task = await InsertTaskAsync(latencyMs: 2_000);
        slowRead.Arm(cancellationToken => Task.Delay(TimeSpan.FromSeconds(1), cancellationToken));
        renewal.Arm(_ => fixture.ExecuteAsync($"""UPDATE "Tasks" SET "CancelRequested" = true WHERE "Id" = '{task.Id}'"""));

        Assert.Equal(ExecutionOutcome.Recorded, await HandleAsync(scope, task));

        Assert.Equal("Cancelled", await StatusAsync(task.Id));
        Assert.Equal("Cancelled", await fixture.ScalarAsync<string>("""SELECT "Status" FROM "TaskAttempts" WHERE "TaskId" = @p0 AND "AttemptNo" = 1""", task.Id));
        Assert.Equal(0L, await fixture.ScalarAsync<long>("""SELECT "TokensIn" FROM "TaskAttempts" WHERE "TaskId" = @p0 AND "AttemptNo" = 1""", task.Id));
    }

    [Fact]
    public async Task A_model_call_whose_task_was_taken_back_while_it_ran_is_paid_for_on_the_attempt_the_dispatcher_closed()
    {
        // An 8 s call whose lease is cut short in the database once it runs (what a worker paused past its lease
        // meets; its own fencing, counting a 30 s lease, does not come first): the running dispatcher takes the task
        // back mid-call.
        using var worker = await BuildWorkerAsync();
        await using var scope = worker.Services.CreateAsyncScope();
        var task = await InsertTaskAsync(latencyMs: 8_000);

        var handling = HandleAsync(scope, task);
        await WaitUntilRunningAsync(worker);
        await Eventually.UntilAsync(
            () => fixture.ScalarAsync<long>("""WITH cut AS (UPDATE "Tasks" SET "LockedUntil" = now() WHERE "Id" = @p0 AND "Status" = 'Running' RETURNING 1) SELECT count(*) FROM cut""", task.Id),
            updated => updated == 1,
            TimeSpan.FromSeconds(30),
            "the attempt to run");

        Assert.Equal(ExecutionOutcome.Ignored, await handling);

        Assert.Equal("LeaseExpired", await fixture.ScalarAsync<string>("""SELECT "ErrorCode" FROM "TaskAttempts" WHERE "TaskId" = @p0 AND "AttemptNo" = 1""", task.Id));
        Assert.True(await fixture.ScalarAsync<long>("""SELECT "TokensIn" FROM "TaskAttempts" WHERE "TaskId" = @p0 AND "AttemptNo" = 1""", task.Id) > 0, "the prompt sent is recorded");
        await RetireAsync(task);
    }

    [Fact]
    public async Task The_executor_prepares_its_claim_before_it_subscribes()
    {
        using var worker = await BuildWorkerAsync();
        var started = worker.Services.GetServices<IHostedService>().Select(s => s.GetType()).ToList();

        var warmUp = started.IndexOf(typeof(ClaimWarmUp));
        var subscriptions = started.Where(t => t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Subscription<>)).ToList();
        Assert.True(warmUp >= 0, "the warm-up is registered");
        Assert.Equal(2, subscriptions.Count);
        Assert.All(subscriptions, t => Assert.True(started.IndexOf(t) > warmUp, $"{t} starts after the warm-up"));
    }

    [Fact]
    public async Task A_database_that_does_not_answer_holds_the_executors_start_only_for_the_warm_up_limit()
    {
        // A port that accepts connections and never answers them, with Npgsql's own timeouts at their longest.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var services = new ServiceCollection();
        services.AddScoped<IAppDbContext>(_ => new AppDbContext(new DbContextOptionsBuilder<AppDbContext>()
            .UseNpgsql($"Host=127.0.0.1;Port={port};Username=x;Password=x;Timeout=1024;Command Timeout=0;Pooling=false").Options));
        await using var provider = services.BuildServiceProvider();
        var warmUp = new ClaimWarmUp(
            provider.GetRequiredService<IServiceScopeFactory>(), new WorkerIdentity("worker-x:1:abcdef"), Options.Create(new WorkerOptions()), NullLogger<ClaimWarmUp>.Instance);

        await warmUp.StartAsync(CancellationToken.None).WaitAsync(ClaimWarmUp.StartLimit * 6);
    }

    [Fact]
    public async Task The_executor_does_not_start_on_a_database_without_this_builds_migrations_until_they_are_applied()
    {
        // A deploy that starts ServiceB before the API migrated: its saves without a transaction rely on the unique
        // event numbers and the check at commit, which only the migrations create.
        const string database = "assistenteia_unmigrated";
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await AppFixture.ResetDatabaseAsync(database, deadline.Token);
        var connectionString = $"{AppFixture.PostgresServer};Database={database}";
        var services = new ServiceCollection();
        services.AddScoped<IAppDbContext>(_ => new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(connectionString).Options));
        await using var provider = services.BuildServiceProvider();
        var log = new RecordingLogger<ClaimWarmUp>();
        var warmUp = new ClaimWarmUp(provider.GetRequiredService<IServiceScopeFactory>(), new WorkerIdentity("worker-x:1:abcdef"), Options.Create(new WorkerOptions()), log);

        var starting = warmUp.StartAsync(deadline.Token);
        await Eventually.UntilAsync(() => Task.FromResult(log.Count(m => m.Contains("lacks", StringComparison.Ordinal))), asked => asked >= 2, TimeSpan.FromSeconds(60), "the start to ask twice for the migrations");
        Assert.False(starting.IsCompleted);

        await using (var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(connectionString).Options))
        {
            await db.Database.MigrateAsync(deadline.Token);
        }

        await starting.WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Keeps the messages logged, to wait on them.</summary>
    private sealed class RecordingLogger<T> : ILogger<T>
    {
        private readonly ConcurrentQueue<string> _messages = new();

        public int Count(Func<string, bool> matches) => _messages.Count(matches);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _messages.Enqueue(formatter(state, exception));
    }

    /// <summary>
    /// A 7 s attempt under a 6 s lease renewed every 2 s by the worker's running heartbeat, <paramref name="arm"/>
    /// called once it runs: it ends <c>Succeeded</c> in one attempt, its lease never lost.
    /// </summary>
    private async Task RunWithHeartbeatAsync(SlowCommand renewal, Action arm)
    {
        using var worker = await BuildWorkerAsync(configure: builder => ShortLease(builder, 6, 2, renewal));
        await WithHeartbeatAsync(worker, async scope =>
        {
            var task = await InsertTaskAsync(latencyMs: 7_000);
            var handling = HandleAsync(scope, task);
            await WaitUntilRunningAsync(worker);
            arm();

            Assert.Equal(ExecutionOutcome.Recorded, await handling);
            Assert.Equal("none", await fixture.ScalarAsync<string>("""SELECT coalesce("ErrorCode", 'none') FROM "TaskAttempts" WHERE "TaskId" = @p0 AND "AttemptNo" = 1""", task.Id));
            Assert.Equal("Succeeded", await StatusAsync(task.Id));
        });
    }

    /// <summary>Runs <paramref name="run"/> in a scope of the worker while its lease heartbeat runs.</summary>
    private static async Task WithHeartbeatAsync(IHost worker, Func<AsyncServiceScope, Task> run)
    {
        var heartbeat = worker.Services.GetServices<IHostedService>().OfType<LeaseHeartbeatService>().Single();
        await heartbeat.StartAsync(CancellationToken.None);
        try
        {
            await using var scope = worker.Services.CreateAsyncScope();
            await run(scope);
        }
        finally
        {
            await heartbeat.StopAsync(CancellationToken.None);
        }
    }

    private static bool IsClaimRead(string sql) => sql.StartsWith("SELECT", StringComparison.Ordinal) && sql.Contains("now()", StringComparison.Ordinal);

    /// <summary>The outcome's batch: the only save that updates an attempt.</summary>
    private static bool IsOutcomeSave(string sql) => sql.Contains("UPDATE \"TaskAttempts\"", StringComparison.Ordinal);

    private static bool IsRenewal(string sql) => sql.StartsWith("UPDATE \"Tasks\" AS t SET \"LockedUntil\"", StringComparison.Ordinal);

    private static Task<ExecutionOutcome> HandleAsync(AsyncServiceScope scope, AiTask task) =>
        scope.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(new TaskQueued(task.Id, task.Type.ToString(), 1, task.CorrelationId), CancellationToken.None);

    /// <summary>The task's delivery through the subscription's own handler, as the broker would hand it over.</summary>
    private static Task<DeliveryOutcome> DeliverAsync(AsyncServiceScope scope, AiTask task, CancellationToken stoppingToken)
    {
        var context = new MessageContext(Guid.NewGuid().ToString(), Queues.TaskQueuedType, task.CorrelationId, task.TenantId, task.Id.ToString(), false, "");
        return scope.ServiceProvider.GetRequiredService<IMessageHandler<TaskQueued>>()
            .HandleAsync(new TaskQueued(task.Id, task.Type.ToString(), 1, task.CorrelationId), context, stoppingToken);
    }

    /// <summary>
    /// What the worker would know after a read of a task: the database's clock. Read again until one reading is fast
    /// enough to be kept (DatabaseClock.MaxRoundTrip), so a slow first query on a busy machine cannot turn a test of the
    /// claim from a message into one of the read.
    /// </summary>
    private Task KnowTheDatabaseClockAsync(IHost worker)
    {
        var clock = worker.Services.GetRequiredService<TimeProvider>();
        var databaseClock = worker.Services.GetRequiredService<DatabaseClock>();
        return Eventually.UntilAsync(
            async () =>
            {
                var sent = ClockReading.Of(clock);
                var now = await fixture.ScalarAsync<DateTime>("SELECT now()");
                databaseClock.Observe(new DateTimeOffset(DateTime.SpecifyKind(now, DateTimeKind.Utc)), sent, ClockReading.Of(clock));
                return databaseClock.Now() is not null;
            },
            known => known,
            TimeSpan.FromSeconds(30),
            "a reading of the database's clock");
    }

    /// <summary>The work message the task's creation stored, as a worker receives it.</summary>
    private async Task<TaskQueued> WorkMessageAsync(AiTask task) =>
        JsonSerializer.Deserialize<TaskQueued>(
            await fixture.ScalarAsync<string>("""SELECT "PayloadJson" FROM "OutboxMessages" WHERE "TaskId" = @p0 AND "Destination" = 'tasks-queued'""", task.Id),
            JsonDefaults.Options)!;

    /// <summary>A message without the task in it: the worker reads the task.</summary>
    private static async Task<ExecutionOutcome> HandleAsync(IHost worker, AiTask task)
    {
        await using var scope = worker.Services.CreateAsyncScope();
        return await HandleAsync(scope, task);
    }

    /// <summary>The worker's claims as <c>assistenteia.claims</c> counts them, from now on.</summary>
    private static MetricCollector<long> Claims(IHost worker) =>
        new(worker.Services.GetRequiredService<IMeterFactory>(), TaskMetrics.MeterName, "assistenteia.claims");

    /// <summary>Each claim counted: <c>message</c>, or <c>read/</c> and why it read.</summary>
    private static string[] ClaimsCounted(MetricCollector<long> claims) =>
        [.. claims.GetMeasurementSnapshot().Select(m => (string)m.Tags["from"]! + (m.Tags.TryGetValue("read_reason", out var reason) ? $"/{reason}" : ""))];

    private async Task<ExecutionOutcome> HandleWorkMessageAsync(IHost worker, AiTask task)
    {
        var message = await WorkMessageAsync(task);
        await using var scope = worker.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ExecuteTaskHandler>().HandleAsync(message, CancellationToken.None);
    }

    private Task<string> EventNamesAsync(Guid taskId) => StoredTaskEvents.NamesAsync(fixture.DatabaseConnectionString, taskId);

    private Task<string> StatusAsync(Guid taskId) => fixture.ScalarAsync<string>("""SELECT "Status" FROM "Tasks" WHERE "Id" = @p0""", taskId);

    /// <summary>Until the worker's attempt is registered: claimed, past any renewal of a slow claim, about to run.</summary>
    private static Task WaitUntilRunningAsync(IHost worker) => Eventually.UntilAsync(
        () => Task.FromResult(worker.Services.GetRequiredService<RunningAttempts>().All.Count),
        count => count == 1,
        TimeSpan.FromSeconds(30),
        "the attempt to run");

    private Task WaitForSucceededAsync(AiTask task) => Eventually.UntilAsync(
        () => StatusAsync(task.Id),
        status => status == "Succeeded",
        TimeSpan.FromSeconds(60),
        "the running executor to succeed with the next attempt");

    /// <summary>One execution slot, and every attempt run by <paramref name="executor"/>.</summary>
    private static void OneSlot(HostApplicationBuilder builder, HeldExecutor executor)
    {
        builder.Configuration["Worker:MaxConcurrency"] = "1";
        builder.Services.AddSingleton<ITaskExecutor>(executor);
    }

    /// <summary>Another session's lock on the task's row, held until the connection is disposed (its transaction rolled back).</summary>
    private async Task<NpgsqlConnection> HoldTaskRowAsync(Guid taskId)
    {
        var connection = new NpgsqlConnection(fixture.DatabaseConnectionString);
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand("""SELECT 1 FROM "Tasks" WHERE "Id" = @p0 FOR UPDATE""", connection, transaction);
        command.Parameters.AddWithValue("p0", taskId);
        await command.ExecuteScalarAsync();
        return connection;
    }

    /// <summary>A skill whose runs start at once and end only when the test releases them; a released run answers "done".</summary>
    private sealed class HeldExecutor : ITaskExecutor
    {
        private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _started = new();
        private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _released = new();

        public Task Started(Guid taskId) => Signal(_started, taskId).Task;

        public void Release(Guid taskId) => Signal(_released, taskId).TrySetResult();

        public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
        {
            Signal(_started, request.TaskId).TrySetResult();
            await Signal(_released, request.TaskId).Task.WaitAsync(cancellationToken);
            return new ExecutionResult("done", ExecutionUsage.Empty);
        }

        private static TaskCompletionSource Signal(ConcurrentDictionary<Guid, TaskCompletionSource> signals, Guid taskId) =>
            signals.GetOrAdd(taskId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }

    /// <summary>A lease of <paramref name="seconds"/> renewed every <paramref name="heartbeatSeconds"/>, and these interceptors on the worker's context.</summary>
    private static void ShortLease(HostApplicationBuilder builder, double seconds, double heartbeatSeconds, params SlowCommand[] interceptors)
    {
        builder.Configuration["Worker:LeaseDuration"] = TimeSpan.FromSeconds(seconds).ToString();
        builder.Configuration["Worker:HeartbeatInterval"] = TimeSpan.FromSeconds(heartbeatSeconds).ToString();
        builder.Services.ConfigureDbContext<AppDbContext>(options => options.AddInterceptors(interceptors));
    }

    /// <summary>
    /// Holds the next <c>times</c> commands matching <c>matches</c> after <see cref="Arm"/>, before they are sent, until
    /// the given wait ends (a wait that throws fails the command).
    /// </summary>
    private sealed class SlowCommand(Func<string, bool> matches) : DbCommandInterceptor
    {
        private Func<CancellationToken, Task>? _wait;
        private int _times;

        /// <summary>The command held last: its connection is open.</summary>
        public DbCommand? Held { get; private set; }

        public void Arm(Func<CancellationToken, Task> wait, int times = 1)
        {
            Volatile.Write(ref _wait, wait);
            Volatile.Write(ref _times, times);
        }

        public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
            DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (matches(command.CommandText) && Interlocked.Decrement(ref _times) >= 0)
            {
                Held = command;
                await Volatile.Read(ref _wait)!(cancellationToken);
            }

            return result;
        }
    }

    /// <summary>
    /// The first save that ran a matching command commits (its batch without a transaction, or its <c>COMMIT</c>), and
    /// then its caller is told the connection broke, as when a connection dies between the server's commit and its answer.
    /// </summary>
    private sealed class LostCommitAnswer(Func<string, bool> matches) : DbCommandInterceptor, IDbTransactionInterceptor
    {
        private int _armed;
        private int _lost;

        public bool Lost => Volatile.Read(ref _lost) == 1;

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
            DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            if (matches(command.CommandText))
            {
                Interlocked.CompareExchange(ref _armed, 1, 0);
            }

            return ValueTask.FromResult(result);
        }

        /// <summary>A save without a transaction: its batch is its commit. The reader is closed first, so the commit is done.</summary>
        public override async ValueTask<DbDataReader> ReaderExecutedAsync(
            DbCommand command, CommandExecutedEventData eventData, DbDataReader result, CancellationToken cancellationToken = default)
        {
            if (command.Transaction is null && Interlocked.CompareExchange(ref _armed, 2, 1) == 1)
            {
                await result.DisposeAsync();
                throw Lose();
            }

            return result;
        }

        public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default) =>
            Interlocked.CompareExchange(ref _armed, 2, 1) == 1 ? Task.FromException(Lose()) : Task.CompletedTask;

        private NpgsqlException Lose()
        {
            Volatile.Write(ref _lost, 1);
            return new NpgsqlException("The connection broke after the commit was sent.", new IOException("Connection reset by peer"));
        }
    }

    /// <summary>The system's wall clock moved by an amount a test may change (a step); timers and timestamps run in real time.</summary>
    private sealed class ShiftedClock(TimeSpan shift) : TimeProvider
    {
        public TimeSpan Shift { get; set; } = shift;

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Shift;
    }

    /// <summary>A wall clock running backwards from when it was made, at real speed; the monotonic clock and timers are real.</summary>
    private sealed class BackwardsClock : TimeProvider
    {
        private readonly DateTimeOffset _start = DateTimeOffset.UtcNow;

        public override DateTimeOffset GetUtcNow() => _start - (base.GetUtcNow() - _start);
    }

    /// <summary>
    /// Takes a test's task out of the running system's way: queued beside an attempt of its own number, it would be
    /// claimed and ignored again and again.
    /// </summary>
    private AppDbContext NewContext() => new(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(fixture.DatabaseConnectionString).Options);

    private Task RetireAsync(AiTask task) =>
        Sql.ExecuteAsync(fixture.DatabaseConnectionString, $"""UPDATE "Tasks" SET "Status" = 'Cancelled' WHERE "Id" = '{task.Id}'""");

    /// <summary>
    /// A queued task with no work message (or, not <paramref name="queued"/>, one scheduled a day ahead). Queued "a
    /// minute from now": the running system's dispatcher queues again a task whose last change is 3 s old, and a test
    /// process's first queries can take longer than that on a busy machine (CI saw it), so the claim lost to it. Its
    /// creation time stays true: other tests of the collection count tasks created since they started.
    /// </summary>
    private async Task<AiTask> InsertTaskAsync(int latencyMs = 200, bool queued = true, int maxAttempts = 3)
    {
        var now = DateTimeOffset.UtcNow;
        var task = AiTask.Create(
            Guid.CreateVersion7(),
            "tenant-a",
            new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async),
            Priority.Normal,
            $$$"""{"prompt":"race","simulation":{"latencyMs":{{{latencyMs}}}}}""",
            maxAttempts,
            null,
            null,
            Guid.NewGuid().ToString("N"),
            queued ? null : now.AddDays(1),
            now);
        if (queued)
        {
            task.Enqueue(now.AddMinutes(1));
        }

        await using var db = NewContext();
        db.Tasks.Add(task);
        await db.SaveChangesAsync();
        return task;
    }

    /// <summary>ServiceB's own composition root, built but not started (no consumer runs).</summary>
    private async Task<IHost> BuildWorkerAsync(TimeProvider? clock = null, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Production" });
        builder.Configuration["ConnectionStrings:db"] = fixture.DatabaseConnectionString;
        builder.Configuration["ConnectionStrings:rabbitmq"] = fixture.BrokerUri;
        builder.AddApplicationCore();
        builder.AddMessaging();
        builder.AddTaskExecution();
        if (clock is not null)
        {
            builder.Services.AddSingleton(clock);
        }

        configure?.Invoke(builder);

        var host = builder.Build();

        // The model built and the claim's queries compiled now, not while a task waits: ServiceB's own warm-up.
        await host.Services.GetServices<IHostedService>().OfType<ClaimWarmUp>().Single().StartAsync(CancellationToken.None);
        return host;
    }
}
