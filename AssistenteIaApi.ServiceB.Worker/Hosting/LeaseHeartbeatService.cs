using AssistenteIa.Application;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Hosting;

/// <summary>
/// ServiceB's heartbeat loop: one batched lease renewal for all running attempts per interval. A renewal that fails,
/// or has not answered after <see cref="WorkerOptions.RenewalRetryDelay"/>, is tried again after that delay instead
/// of a whole interval: the attempts fence themselves one interval after a beat that did not confirm them. One that
/// does not answer is left to end by itself in its own scope (Npgsql's command timeout; cancelling it would run the
/// cancel request on this loop), and at most <see cref="MaxUnanswered"/> are left at once.
/// </summary>
public sealed class LeaseHeartbeatService(IServiceScopeFactory scopes, IOptions<WorkerOptions> options, TimeProvider clock, ILogger<LeaseHeartbeatService> logger)
    : BackgroundService
{
    public const int MaxUnanswered = 3;

    private readonly List<Task<bool>> _unanswered = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var worker = options.Value;
        var wait = worker.EffectiveHeartbeatInterval;
        try
        {
            while (true)
            {
                await Task.Delay(wait, clock, stoppingToken);
                wait = await BeatAsync(worker, stoppingToken) ? worker.EffectiveHeartbeatInterval : worker.RenewalRetryDelay;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Whether the renewal answered (each attempt then knows whether its lease is held).</summary>
    private async Task<bool> BeatAsync(WorkerOptions worker, CancellationToken stoppingToken)
    {
        _unanswered.RemoveAll(renewal => renewal.IsCompleted);
        if (_unanswered.Count >= MaxUnanswered)
        {
            logger.LogWarning("{Count} lease renewals have not answered; waiting for one before the next", _unanswered.Count);
            await ((Task)Task.WhenAny(_unanswered).WaitAsync(worker.RenewalRetryDelay, clock, stoppingToken)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return false;
        }

        var renewal = RenewAsync(stoppingToken);
        try
        {
            return await renewal.WaitAsync(worker.RenewalRetryDelay, clock, stoppingToken);
        }
        catch (TimeoutException)
        {
            _unanswered.Add(renewal);
            logger.LogWarning("Lease renewal has not answered for {Wait}; trying again on another connection", worker.RenewalRetryDelay);
            return false;
        }
    }

    private async Task<bool> RenewAsync(CancellationToken stoppingToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<RenewLeasesHandler>().HandleAsync(stoppingToken);
            return true;
        }
        catch (Exception ex) when (stoppingToken.IsCancellationRequested)
        {
            logger.LogDebug(ex, "Lease renewal ended by the worker stopping");
            return false;
        }
        catch (Exception ex)
        {
            // The database may be restarting; the attempts fence themselves only an interval after the beat that failed.
            logger.LogWarning(ex, "Lease renewal failed; trying again in {Delay}", options.Value.RenewalRetryDelay);
            return false;
        }
    }
}
