using AssistenteIa.Application;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AssistenteIa.Tests.Integration;

/// <summary>The heartbeat's own judgement when the database cannot answer, on a fake clock.</summary>
public sealed class LeaseFencingTests
{
    private static readonly WorkerOptions Options = new() { LeaseDuration = TimeSpan.FromSeconds(30), HeartbeatInterval = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task A_worker_that_cannot_reach_the_database_stops_an_attempt_it_could_not_confirm_for_almost_a_lease()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var running = new RunningAttempts(clock);
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
    public async Task A_wall_clock_stepped_back_during_an_outage_does_not_delay_the_self_fencing()
    {
        // By the wall clock alone the lease was confirmed an hour in the future: the attempt would run on while the
        // dispatcher, judging by the database's clock, rescues the task and runs it elsewhere.
        var clock = new SteppedClock(DateTimeOffset.UtcNow);
        var running = new RunningAttempts(clock);
        using var attempt = running.Register(Guid.NewGuid(), 1);
        var handler = Handler(running, clock);

        clock.WallStep = TimeSpan.FromHours(-1);
        clock.Advance(TimeSpan.FromSeconds(21));
        await Assert.ThrowsAnyAsync<Exception>(() => handler.HandleAsync(CancellationToken.None));

        Assert.Equal(StopReason.LeaseLost, attempt.Reason);
    }

    [Fact]
    public async Task A_machine_that_slept_past_the_lease_stops_the_attempt_on_waking_though_its_monotonic_clock_stood_still()
    {
        var clock = new SteppedClock(DateTimeOffset.UtcNow);
        var running = new RunningAttempts(clock);
        using var attempt = running.Register(Guid.NewGuid(), 1);
        var handler = Handler(running, clock);

        clock.WallStep = TimeSpan.FromSeconds(21);
        await Assert.ThrowsAnyAsync<Exception>(() => handler.HandleAsync(CancellationToken.None));

        Assert.Equal(StopReason.LeaseLost, attempt.Reason);
    }

    [Fact]
    public async Task A_wall_clock_stepped_back_less_than_the_limit_does_not_stop_an_attempt_early()
    {
        var clock = new SteppedClock(DateTimeOffset.UtcNow);
        var running = new RunningAttempts(clock);
        using var attempt = running.Register(Guid.NewGuid(), 1);
        var handler = Handler(running, clock);

        clock.WallStep = TimeSpan.FromHours(-1);
        clock.Advance(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAnyAsync<Exception>(() => handler.HandleAsync(CancellationToken.None));

        Assert.Null(attempt.Reason);
    }

    [Fact]
    public async Task A_renewal_the_database_never_answers_is_given_up_after_an_interval_and_an_attempt_in_doubt_stops()
    {
        // A port that accepts connections and never answers (a database cut off with packets dropped), Npgsql's
        // timeouts at their longest: the renewal would hold the heartbeat, and the self-fencing, for 1,024 s.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var options = new WorkerOptions { LeaseDuration = TimeSpan.FromSeconds(3), HeartbeatInterval = TimeSpan.FromMilliseconds(500) };
        var running = new RunningAttempts(TimeProvider.System);

        // Confirmed an hour ago by the wall clock, a moment ago by the monotonic one: a machine that slept, or a wall
        // clock stepped forward; only a renewal could tell, and none comes.
        var now = ClockReading.Of(TimeProvider.System);
        using var attempt = running.Register(Guid.NewGuid(), 1, now with { WallTime = now.WallTime.AddHours(-1) });
        var handler = Handler(running, TimeProvider.System, $"Host=127.0.0.1;Port={port};Username=x;Password=x;Timeout=1024;Command Timeout=0", options);

        var failure = await Record.ExceptionAsync(() => handler.HandleAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));

        // Not the test's own 30 s deadline: the handler's, after one interval.
        Assert.Equal("The lease renewal did not answer within 00:00:00.5000000.", Assert.IsType<TimeoutException>(failure).Message);
        Assert.Equal(StopReason.LeaseLost, attempt.Reason);
    }

    /// <summary>A real Npgsql context pointed at a port where no database listens (unless told another): every renewal fails.</summary>
    private static RenewLeasesHandler Handler(RunningAttempts running, TimeProvider clock, string? connectionString = null, WorkerOptions? options = null) => new(
        new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(connectionString ?? "Host=127.0.0.1;Port=1;Username=x;Password=x;Timeout=2").Options),
        running,
        new WorkerIdentity("worker-x:1:abcdef"),
        Microsoft.Extensions.Options.Options.Create(options ?? Options),
        clock,
        NullLogger<RenewLeasesHandler>.Instance);

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
    }
}
