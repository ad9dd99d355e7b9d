using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Webhooks;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceC.Worker.Webhooks;

/// <summary>
/// Every poll: task events are copied to the webhook queue while an enabled endpoint exists and not otherwise
/// (<see cref="IWebhookEventRouting"/>). Also puts the copies back when the broker lost them.
/// </summary>
public sealed class WebhookEventRoutingService(IServiceScopeFactory scopes, IOptions<WebhookOptions> options, TimeProvider clock, ILogger<WebhookEventRoutingService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        bool? copying = null;
        using var timer = new PeriodicTimer(options.Value.PollInterval, clock);
        try
        {
            do
            {
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    var now = await scope.ServiceProvider.GetRequiredService<IWebhookEventRouting>().ReconcileAsync(stoppingToken);
                    if (now != copying)
                    {
                        if (now)
                        {
                            logger.LogInformation("A webhook endpoint is enabled: task events are copied to the webhook queue");
                        }
                        else
                        {
                            logger.LogInformation("No webhook endpoint is enabled: task events are not copied to the webhook queue");
                        }

                        copying = now;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(ex, "Could not settle whether task events are copied to the webhook queue; trying again next poll");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
