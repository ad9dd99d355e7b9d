using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Streams;

public sealed class TaskEventHubTests
{
    [Fact]
    public async Task Streams_opened_at_once_never_pass_the_tenants_limit()
    {
        const int limit = 2;
        var feed = new CountingFeed();
        var hub = new TaskEventHub(Options.Create(new TaskEventStreamOptions { MaxStreamsPerTenant = limit }), feed);
        for (var round = 0; round < 200; round++)
        {
            using var start = new Barrier(8);
            var opened = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            {
                start.SignalAndWait();
                return hub.Subscribe("tenant", taskId: null);
            })));

            var accepted = opened.Where(s => s is not null).ToList();
            Assert.True(accepted.Count <= limit, $"round {round}: {accepted.Count} streams open, the limit is {limit}");
            Assert.Equal(accepted.Count, feed.Held);
            accepted.ForEach(s => s!.Dispose());
            Assert.Equal(0, feed.Held);
        }
    }

    private sealed class CountingFeed : ILiveEventFeed
    {
        private int _held;

        public int Held => Volatile.Read(ref _held);

        public void Acquire() => Interlocked.Increment(ref _held);

        public void Release() => Interlocked.Decrement(ref _held);
    }
}
