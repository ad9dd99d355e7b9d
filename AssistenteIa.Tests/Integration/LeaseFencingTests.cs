using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>The worker's own judgement of its leases when the database cannot answer: each attempt's timer and the heartbeat.</summary>
public sealed class LeaseFencingTests(IsolatedDatabase isolated) : IClassFixture<IsolatedDatabase>
{
    private static readonly WorkerOptions Options = new() { LeaseDuration = TimeSpan.FromSeconds(30), HeartbeatInterval = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task A_worker_that_cannot_reach_the_database_stops_an_attempt_it_could_not_confirm_for_almost_a_lease()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var running = Running(clock);
        using var attempt = running.Register(Guid.NewGuid(), 1);
        var handler = Handler(running, clock);

        // One interval later the lease still has two intervals to go: the attempt keeps running.
        clock.Advance(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAnyAsync<Exception>(() => handler.HandleAsync(CancellationToken.None));
        Assert.False(attempt.Token.IsCancellationRequested);

        // Past lease minus one interval without a confirmed renewal: the dispatcher may rescue it any moment now.
        clock.Advance(TimeSpan.FromSeconds(11));
        await Assert.ThrowsAnyAsync<Exception>(() => handler.HandleAsync(CancellationToken.None));
        Assert.True(attempt.Token.IsCancellationRequested);
        Assert.Equal(StopReason.LeaseLost, attempt.Reason);
    }

    [Fact]
    public async Task A_failed_renewal_makes_the_worker_forget_the_database_clock_so_its_next_claim_reads_its_task()
    {
        // A failover may have brought a database whose clock differs: a claim leased by the old one's reading could end
        // its lease early.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var running = Running(clock);
        using var attempt = running.Register(Guid.NewGuid(), 1);
        var databaseClock = new DatabaseClock(clock);
        databaseClock.Observe(clock.GetUtcNow(), ClockReading.Of(clock), ClockReading.Of(clock));
        Assert.NotNull(databaseClock.Now());

        await Assert.ThrowsAnyAsync<Exception>(() => Handler(running, clock, databaseClock: databaseClock).HandleAsync(CancellationToken.None));

        Assert.Null(databaseClock.Now());
    }

    /// <summary>
    /// The database down, the lease unconfirmed past its limit (20 s) by one clock or the other: a wall clock stepped
    /// back an hour must not delay the stop the monotonic clock calls for (the dispatcher judges by the database's
    /// clock), a machine that slept (wall clock 21 s on, monotonic clock still) stops when the renewal fails, and a
    /// wall clock stepped back within the limit stops nothing.
    /// </summary>
    [Theory]
    [InlineData(-3600, 21, true)]
    [InlineData(21, 0, true)]
    [InlineData(-3600, 10, false)]
    public async Task With_the_database_down_the_self_fencing_follows_whichever_clock_says_the_lease_is_over(int wallStepSeconds, int monotonicSeconds, bool stops)
    {
        var clock = new SteppedClock(DateTimeOffset.UtcNow);
        var running = Running(clock);
        using var attempt = running.Register(Guid.NewGuid(), 1);
        var handler = Handler(running, clock);

        clock.WallStep = TimeSpan.FromSeconds(wallStepSeconds);
        clock.Advance(TimeSpan.FromSeconds(monotonicSeconds));
        await Assert.ThrowsAnyAsync<Exception>(() => handler.HandleAsync(CancellationToken.None));

        Assert.Equal(stops ? StopReason.LeaseLost : null, attempt.Reason);
    }

    [Fact]
    public void An_attempt_stops_itself_when_its_lease_goes_unconfirmed_without_waiting_for_a_heartbeat()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var attempt = Running(clock).Register(Guid.NewGuid(), 1);

        clock.Advance(TimeSpan.FromSeconds(15));
        attempt.Renewed(ClockReading.Of(clock));
        clock.Advance(TimeSpan.FromSeconds(15));
        Assert.Null(attempt.Reason);

        // 20 s (a lease minus one interval) after the last renewal.
        clock.Advance(TimeSpan.FromSeconds(5.001));
        Assert.Equal(StopReason.LeaseLost, attempt.Reason);
        Assert.True(attempt.Token.IsCancellationRequested);
    }

    [Fact]
    public void A_renewal_answering_after_a_later_one_does_not_move_the_deadline_back()
    {
        // The heartbeat sends another renewal when one does not answer; the first may still answer afterwards.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var attempt = Running(clock).Register(Guid.NewGuid(), 1);
        clock.Advance(TimeSpan.FromSeconds(5));
        var stuck = ClockReading.Of(clock);
        clock.Advance(TimeSpan.FromSeconds(5));
        attempt.Renewed(ClockReading.Of(clock));

        attempt.Renewed(stuck);

        // 20 s after the later renewal, not after the stuck one.
        clock.Advance(TimeSpan.FromSeconds(19));
        Assert.Null(attempt.Reason);
        clock.Advance(TimeSpan.FromSeconds(1.001));
        Assert.Equal(StopReason.LeaseLost, attempt.Reason);
    }

    [Fact]
    public async Task A_renewal_that_fails_after_another_confirmed_the_lease_stops_nothing()
    {
        // The wall clock 21 s on and the monotonic one still: only a renewal can tell a clock step from a sleep. This
        // one fails, but a renewal sent beside it (the heartbeat does not wait on one that does not answer) confirmed
        // the lease while it was failing.
        var clock = new SteppedClock(DateTimeOffset.UtcNow);
        var running = Running(clock);
        using var attempt = running.Register(Guid.NewGuid(), 1);
        clock.WallStep = TimeSpan.FromSeconds(21);
        var confirmedBeside = new OnConnectionOpening(() =>
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            attempt.Renewed(ClockReading.Of(clock));
        });
        var handler = new RenewLeasesHandler(
            new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql("Host=127.0.0.1;Port=1;Username=x;Password=x;Timeout=2").AddInterceptors(confirmedBeside).Options),
            running,
            new WorkerIdentity("worker-x:1:abcdef"),
            Microsoft.Extensions.Options.Options.Create(Options),
            new DatabaseClock(clock),
            clock,
            NullLogger<RenewLeasesHandler>.Instance);

        await Assert.ThrowsAnyAsync<Exception>(() => handler.HandleAsync(CancellationToken.None));

        Assert.Null(attempt.Reason);
    }

    [Fact]
    public void An_attempt_registered_past_the_limit_is_stopped_before_it_can_run()
    {
        // A slow claim whose renewal failed late: no timer may race the start of the model call.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var leaseRead = ClockReading.Of(clock);
        clock.Advance(TimeSpan.FromSeconds(21));

        using var attempt = Running(clock).Register(Guid.NewGuid(), 1, leaseRead);

        Assert.True(attempt.Token.IsCancellationRequested);
        Assert.Equal(StopReason.LeaseLost, attempt.Reason);
    }

    [Fact]
    public async Task A_heartbeat_stuck_on_a_database_that_never_answers_does_not_delay_the_self_fencing()
    {
        // A port that accepts connections and never answers (a database cut off with packets dropped), Npgsql's
        // timeouts at their longest: the renewal holds the heartbeat for 1,024 s.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var options = new WorkerOptions { LeaseDuration = TimeSpan.FromSeconds(3), HeartbeatInterval = TimeSpan.FromMilliseconds(500) };
        var running = Running(TimeProvider.System, options);
        using var attempt = running.Register(Guid.NewGuid(), 1);
        var handler = Handler(running, TimeProvider.System, $"Host=127.0.0.1;Port={port};Username=x;Password=x;Timeout=1024;Command Timeout=0", options);

        var heartbeat = handler.HandleAsync(CancellationToken.None);
        await Eventually.UntilAsync(() => Task.FromResult(attempt.Reason), reason => reason is not null, TimeSpan.FromSeconds(30), "the attempt to stop itself");

        Assert.Equal(StopReason.LeaseLost, attempt.Reason);
        Assert.False(heartbeat.IsCompleted, "the heartbeat is still waiting on the database");
        silent.Stop();
    }

    /// <summary>
    /// A renewal the database holds without an answer (here: another session holds the table; a database that hangs
    /// or a connection gone silent does the same) is cancelled after <see cref="WorkerOptions.RenewalTimeout"/> and
    /// fails, instead of waiting out the connection's command timeout (30 s). A failed renewal settles what only the
    /// wall clock calls over: after a sleep (wall clock past the limit, monotonic clock still) the attempt stops then.
    /// </summary>
    [Fact]
    public async Task A_renewal_the_database_does_not_answer_fails_after_its_timeout_and_settles_the_wall_clock_doubt()
    {
        var options = new WorkerOptions { LeaseDuration = TimeSpan.FromSeconds(3), HeartbeatInterval = TimeSpan.FromSeconds(1) };
        var clock = new SteppedClock(DateTimeOffset.UtcNow);
        var running = Running(clock, options);
        using var attempt = running.Register(Guid.NewGuid(), 1);
        var handler = Handler(running, clock, isolated.ConnectionString, options);

        await using var holder = await HoldTasksTableAsync();

        clock.WallStep = options.LeaseDuration;
        var renewal = handler.HandleAsync(CancellationToken.None);

        // Well before the connection's own 30 s (the deadline here would throw a TimeoutException of its own): Npgsql's
        // timeout, the statement cancelled.
        var error = await Assert.ThrowsAnyAsync<Exception>(() => renewal.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.IsNotType<TimeoutException>(error);
        Assert.IsType<TimeoutException>(error.GetBaseException());
        Assert.Equal(StopReason.LeaseLost, attempt.Reason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_renewal_s_timeout_is_for_its_own_statement_only(bool timesOut)
    {
        await using var db = isolated.CreateDbContext();
        db.Database.SetCommandTimeout(TimeSpan.FromSeconds(45));
        await using var holder = timesOut ? await HoldTasksTableAsync() : null;

        var renewal = db.RenewLeasesAsync("worker-x:1:abcdef", [new AttemptLease(Guid.NewGuid(), 1)], TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1), CancellationToken.None);
        if (timesOut)
        {
            await Assert.ThrowsAnyAsync<Exception>(() => renewal);
        }
        else
        {
            await renewal;
        }

        Assert.Equal(45, db.Database.GetCommandTimeout());
    }

    /// <summary>
    /// Another session holding <c>Tasks</c> in ACCESS EXCLUSIVE mode until the connection returned is disposed (its
    /// transaction then ends): every statement on the table waits without an answer meanwhile.
    /// </summary>
    private async Task<NpgsqlConnection> HoldTasksTableAsync()
    {
        var connection = new NpgsqlConnection(isolated.ConnectionString);
        await connection.OpenAsync();
        var hold = await connection.BeginTransactionAsync();
        await using var lockTable = new NpgsqlCommand("""LOCK TABLE "Tasks" IN ACCESS EXCLUSIVE MODE""", connection, hold);
        await lockTable.ExecuteNonQueryAsync();
        return connection;
    }

    /// <summary>A real Npgsql context pointed at a port where no database listens (unless told another): every renewal fails.</summary>
    private static RenewLeasesHandler Handler(
        RunningAttempts running, TimeProvider clock, string? connectionString = null, WorkerOptions? options = null, DatabaseClock? databaseClock = null) => new(
        new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(connectionString ?? "Host=127.0.0.1;Port=1;Username=x;Password=x;Timeout=2").Options),
        running,
        new WorkerIdentity("worker-x:1:abcdef"),
        Microsoft.Extensions.Options.Options.Create(options ?? Options),
        databaseClock ?? new DatabaseClock(clock),
        clock,
        NullLogger<RenewLeasesHandler>.Instance);

    private static RunningAttempts Running(TimeProvider clock, WorkerOptions? options = null) =>
        new(clock, Microsoft.Extensions.Options.Options.Create(options ?? Options), NullLogger<RunningAttempts>.Instance);

    /// <summary>Runs an action when the context opens its connection, before the connection is tried.</summary>
    private sealed class OnConnectionOpening(Action action) : DbConnectionInterceptor
    {
        public override ValueTask<InterceptionResult> ConnectionOpeningAsync(
            System.Data.Common.DbConnection connection, ConnectionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
        {
            action();
            return ValueTask.FromResult(result);
        }
    }

    /// <summary>A fake clock whose wall time can be stepped apart from its monotonic time (<see cref="Advance"/> moves both).</summary>
    private sealed class SteppedClock(DateTimeOffset start) : TimeProvider
    {
        // FakeTimeProvider derives its timestamps from its own wall time, so the step is kept outside it.
        private readonly FakeTimeProvider _fake = new(start);

        public TimeSpan WallStep { get; set; }

        public override long TimestampFrequency => _fake.TimestampFrequency;

        public void Advance(TimeSpan delta) => _fake.Advance(delta);

        public override DateTimeOffset GetUtcNow() => _fake.GetUtcNow() + WallStep;

        public override long GetTimestamp() => _fake.GetTimestamp();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            _fake.CreateTimer(callback, state, dueTime, period);
    }
}
