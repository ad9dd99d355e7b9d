using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Webhooks;

namespace AssistenteIaApi.ServiceC.Worker.Webhooks;

/// <summary>
/// Every second (the endpoint cache's lifetime, so within the API's wait after a registration): task events of the
/// types enabled endpoints subscribe to are copied to the webhook queue, and no others (<see cref="IWebhookEventRouting"/>).
/// Every <see cref="RefreshEvery"/> polls the bindings are set again whatever this instance last set (a broker that lost
/// them, another process that bound more).
/// </summary>
public sealed class WebhookEventRoutingService(IServiceScopeFactory scopes, TimeProvider clock, ILogger<WebhookEventRoutingService> logger)
    : BackgroundService
{
    public const int RefreshEvery = 30;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IReadOnlySet<string>? copying = null;
        var polls = 0;
        var failures = 0;
        using var timer = new PeriodicTimer(WebhookEndpointCache.Duration, clock);
        try
        {
            do
            {
                try
                {
                    var known = polls++ % RefreshEvery == 0 ? null : copying;
                    await using var scope = scopes.CreateAsyncScope();
                    var now = await scope.ServiceProvider.GetRequiredService<IWebhookEventRouting>().ReconcileAsync(known, stoppingToken);
                    if (copying is null || !now.SetEquals(copying))
                    {
                        if (now.Count > 0)
                        {
                            logger.LogInformation("Task events copied to the webhook queue: {EventTypes}", string.Join(", ", now.Order(StringComparer.Ordinal)));
                        }
                        else
                        {
                            logger.LogInformation("No webhook endpoint is enabled: task events are not copied to the webhook queue");
                        }

                        copying = now;
                    }

                    failures = 0;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // Unknown now: the next poll sets it whatever it is. One warning per outage, then debug lines.
                    copying = null;
                    logger.Log(
                        ++failures == 1 ? LogLevel.Warning : LogLevel.Debug,
                        ex,
                        "Could not settle whether task events are copied to the webhook queue; trying again next poll");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
