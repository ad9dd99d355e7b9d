using AssistenteIa.Application.Outbox;
using Microsoft.Extensions.Hosting;

namespace AssistenteIa.Infrastructure.Persistence;

/// <summary>Runs <see cref="OutboxSentMarks"/> for the life of the host; registered before the publishers, so it stops after them and writes their last marks.</summary>
public sealed class OutboxSentMarksWriter(OutboxSentMarks marks) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => marks.RunAsync(stoppingToken);

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        marks.Complete();
        return base.StopAsync(cancellationToken);
    }
}
