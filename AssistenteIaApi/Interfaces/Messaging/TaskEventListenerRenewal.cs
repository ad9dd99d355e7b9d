using AssistenteIa.Infrastructure.Messaging;

namespace AssistenteIaApi.Interfaces.Messaging;

/// <summary>
/// Renews this instance's registration as a listener of task events every quarter of its lease while its feed is on
/// (<see cref="OnDemandBinding.RenewListenerAsync"/>), and removes it when the host stops.
/// </summary>
public sealed class TaskEventListenerRenewal(
    OnDemandBinding binding, TaskEventListenerLease listener, TimeProvider clock, ILogger<TaskEventListenerRenewal> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(listener.Lease / 4, clock);
        var failures = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await binding.RenewListenerAsync(stoppingToken);
                    failures = 0;
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    // The lease outlasts three missed renewals; past it, the next renewal registers again.
                    logger.Log(++failures == 1 ? LogLevel.Warning : LogLevel.Debug, ex, "Could not renew listener {Listener} of task events; trying again", listener.Name);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            // Best effort: a row left behind lapses with its lease.
            await listener.RemoveAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogInformation(ex, "Could not remove listener {Listener} of task events at stop; it lapses with its lease", listener.Name);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
