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

    /// <summary>A real Npgsql context pointed at a port where no database listens: every renewal fails.</summary>
    private static RenewLeasesHandler Handler(RunningAttempts running, TimeProvider clock) => new(
        new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql("Host=127.0.0.1;Port=1;Username=x;Password=x;Timeout=2").Options),
        running,
        new WorkerIdentity("worker-x:1:abcdef"),
        Microsoft.Extensions.Options.Options.Create(Options),
        clock,
        NullLogger<RenewLeasesHandler>.Instance);
}
