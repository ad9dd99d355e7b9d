using AssistenteIa.Application.Outbox;
using Microsoft.Extensions.Hosting;

namespace AssistenteIa.Infrastructure.Messaging;

/// <summary>Runs <see cref="OutboxSentMarks"/> for the life of the host; registered before the publishers, so it stops after them and writes their last marks.</summary>
public sealed class OutboxSentMarksWriter(OutboxSentMarks marks) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => marks.RunAsync();

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        marks.Complete();
        return base.StopAsync(cancellationToken);
    }
}

/// <summary>
/// Runs <see cref="OutboxDispatcher"/> for the life of the host. On stop it takes no new rows and gets a few seconds to
/// publish those queued; what is left then stays unsent for the relay.
/// </summary>
public sealed class OutboxDispatcherService(OutboxDispatcher dispatcher) : BackgroundService
{
    private static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(5);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => dispatcher.RunAsync(stoppingToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        dispatcher.Complete();
        if (ExecuteTask is { } running)
        {
            await Task.WhenAny(running, Task.Delay(DrainTime, cancellationToken));
        }

        await base.StopAsync(cancellationToken);
    }
}
