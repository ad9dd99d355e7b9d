using System.Diagnostics.Metrics;
using AssistenteIa.Application;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Commands.ExecuteTask;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AssistenteIa.Tests.Domain;

public sealed class ExecutionSlotsTests
{
    [Fact]
    public async Task The_busy_slots_and_the_wait_for_one_are_measured()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        var clock = new FakeTimeProvider();
        using var slots = new ExecutionSlots(Options.Create(new WorkerOptions { MaxConcurrency = 2 }), meterFactory, clock);
        var waits = new List<double>();
        var busy = new List<long>();
        Instrument? waitInstrument = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // This container's meter only: another live container in the process publishes the same names.
            if (instrument.Meter.Scope == meterFactory)
            {
                waitInstrument = instrument.Name == "assistenteia.worker.slot_wait" ? instrument : waitInstrument;
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((i, value, _, _) =>
        {
            if (i.Name == "assistenteia.worker.slot_wait")
            {
                waits.Add(value);
            }
        });
        listener.SetMeasurementEventCallback<int>((i, value, _, _) =>
        {
            if (i.Name == "assistenteia.worker.slots.busy")
            {
                busy.Add(value);
            }
        });
        listener.Start();

        using var first = await slots.EnterAsync(CancellationToken.None);
        var second = await slots.EnterAsync(CancellationToken.None);
        listener.RecordObservableInstruments();
        var third = slots.EnterAsync(CancellationToken.None);
        clock.Advance(TimeSpan.FromMilliseconds(250));
        Assert.False(third.IsCompleted);
        second.Dispose();
        using var thirdSlot = await third;
        second.Dispose(); // a second release of the same slot gives nothing back
        listener.RecordObservableInstruments();

        Assert.Equal([0, 0, 0.25], waits);
        Assert.Same(TaskMetrics.SecondsBuckets, Assert.IsType<Histogram<double>>(waitInstrument).Advice);
        Assert.Equal([2, 2], busy);
        Assert.Equal(0, slots.Free);
    }
}
