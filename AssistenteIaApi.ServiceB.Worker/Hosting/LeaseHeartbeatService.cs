using AssistenteIa.Application;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Hosting;

/// <summary>ServiceB's heartbeat loop: one batched lease renewal for all running attempts per interval.</summary>
public sealed class LeaseHeartbeatService(IServiceScopeFactory scopes, IOptions<WorkerOptions> options, TimeProvider clock, ILogger<LeaseHeartbeatService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.EffectiveHeartbeatInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    await scope.ServiceProvider.GetRequiredService<RenewLeasesHandler>().HandleAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The database may be restarting; the lease lasts several intervals, so the next tick may still save it.
                    logger.LogWarning(ex, "Lease renewal failed; retrying on the next tick");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
