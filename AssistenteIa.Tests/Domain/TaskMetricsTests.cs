using System.Diagnostics.Metrics;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.Extensions.DependencyInjection;

namespace AssistenteIa.Tests.Domain;

public sealed class TaskMetricsTests
{
    [Fact]
    public void A_finished_attempt_counts_its_tokens_cost_and_the_task_outcome()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var metrics = new TaskMetrics(services.GetRequiredService<IMeterFactory>());
        var measured = new Dictionary<string, double>();
        var histograms = new Dictionary<string, Histogram<double>>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == services.GetRequiredService<IMeterFactory>())
            {
                if (instrument is Histogram<double> histogram)
                {
                    histograms[instrument.Name] = histogram;
                }

                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, value, _, _) => measured[i.Name] = measured.GetValueOrDefault(i.Name) + value);
        listener.SetMeasurementEventCallback<double>((i, value, _, _) => measured[i.Name] = measured.GetValueOrDefault(i.Name) + value);
        listener.Start();
        var task = Tasks.In(AiTaskStatus.Reserved);
        var attempt = task.Start(Tasks.Now);
        attempt.Close(AttemptStatus.Succeeded, new AttemptUsage("m", 1000, 500, 1m, 2m), Tasks.Now.AddSeconds(2));
        task.Succeed(Tasks.Now.AddSeconds(2));

        metrics.AttemptEnded(task, attempt);

        Assert.Equal(1, measured["assistenteia.tasks.finished"]);
        Assert.Equal(1500, measured["assistenteia.tokens"]);
        Assert.Equal(0.002, measured["assistenteia.cost"], precision: 9);
        Assert.Equal(2, measured["assistenteia.attempts.duration"]);
        // Seconds get buckets in seconds, not the exporter's millisecond defaults.
        Assert.All(histograms.Values, h => Assert.Same(TaskMetrics.SecondsBuckets, h.Advice));
        Assert.Equal(["assistenteia.attempts.duration", "assistenteia.tasks.queue_wait"], histograms.Keys.Order());
    }
}
