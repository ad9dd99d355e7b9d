using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;
using AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;
using AssistenteIaApi.Interfaces.Http;

namespace AssistenteIa.Tests.Streams;

public sealed class ServerSentEventsWriterTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task The_events_at_hand_go_out_in_one_flush_and_each_later_one_as_soon_as_it_arrives()
    {
        var items = Channel.CreateUnbounded<StreamItem>();
        var pipe = new Pipe();
        var body = new CountingWriter(pipe.Writer);
        var received = new StringBuilder();
        using var stop = new CancellationTokenSource();

        // A burst: three events already there when the stream starts.
        for (var i = 1; i <= 3; i++)
        {
            await items.Writer.WriteAsync(Event(i));
        }

        var writing = ServerSentEventsWriter.WriteAsync(items.Reader.ReadAllAsync(stop.Token), ": connected\n\n", body, stop.Token);
        await ReadUntilAsync(pipe.Reader, received, "data: {\"n\":3}\n\n");
        Assert.Equal(2, body.Flushes); // the preamble at once, then the burst
        Assert.Equal(3, Count(received.ToString(), "event: task.test\n"));
        Assert.StartsWith(": connected\n\n", received.ToString(), StringComparison.Ordinal);

        // The stream waits with nothing unsent; an event that arrives then is sent at once, alone.
        await items.Writer.WriteAsync(Event(4));
        await ReadUntilAsync(pipe.Reader, received, "data: {\"n\":4}\n\n");
        Assert.Equal(3, body.Flushes);

        await items.Writer.WriteAsync(new StreamItem(StreamItemKind.Heartbeat));
        await ReadUntilAsync(pipe.Reader, received, ": heartbeat\n\n");
        Assert.Equal(4, body.Flushes);

        items.Writer.Complete();
        await writing.WaitAsync(Deadline);
        Assert.Equal(
            ": connected\n\n" + string.Concat(Enumerable.Range(1, 4).Select(Frame)) + ": heartbeat\n\n",
            received.ToString());
    }

    [Fact]
    public async Task A_burst_larger_than_the_limit_is_sent_in_parts_while_it_is_written()
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var body = new CountingWriter(pipe.Writer);
        var big = new string('x', 10_000);
        var count = 3 * ServerSentEventsWriter.MaxUnflushedBytes / big.Length;

        await ServerSentEventsWriter.WriteAsync(Burst(count, big), "", body, CancellationToken.None).WaitAsync(Deadline);

        // Each flush came once the limit was passed, not once per event nor once for all of them.
        Assert.InRange(body.Flushes, 3, 4);
        Assert.True(pipe.Reader.TryRead(out var result));
        Assert.Equal(count, Count(Encoding.UTF8.GetString(result.Buffer), "event: task.test\n"));
    }

    [Fact]
    public async Task The_preamble_is_sent_before_the_first_read_so_a_stream_that_fails_at_once_has_started()
    {
        var pipe = new Pipe();
        var body = new CountingWriter(pipe.Writer);

        await Assert.ThrowsAsync<InvalidOperationException>(() => ServerSentEventsWriter.WriteAsync(FailingAtOnce(), ": connected\n\n", body, CancellationToken.None));

        Assert.Equal(1, body.Flushes);
        Assert.True(pipe.Reader.TryRead(out var result));
        Assert.Equal(": connected\n\n", Encoding.UTF8.GetString(result.Buffer));
    }

    [Fact]
    public async Task A_flush_failing_while_the_next_item_is_awaited_ends_the_reader_first_and_reports_the_cancellation()
    {
        var items = Channel.CreateUnbounded<StreamItem>();
        using var stop = new CancellationTokenSource();
        var body = new CountingWriter(new Pipe().Writer) { FailFlushAfter = 2, OnFail = stop.Cancel };
        await items.Writer.WriteAsync(Event(1));

        // The preamble's flush passes; the event's, made while the reader waits for the next item, fails as the client
        // leaves: what comes out is the cancellation, not the error of disposing a reader still running.
        var writing = ServerSentEventsWriter.WriteAsync(items.Reader.ReadAllAsync(stop.Token), ": connected\n\n", body, stop.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => writing.WaitAsync(Deadline));
    }

    private static async IAsyncEnumerable<StreamItem> FailingAtOnce()
    {
        await Task.CompletedTask;
        throw new InvalidOperationException("The database refused the first read.");
#pragma warning disable CS0162 // An iterator needs a yield to be one.
        yield break;
#pragma warning restore CS0162
    }

    private static async IAsyncEnumerable<StreamItem> Burst(int count, string data)
    {
        for (var i = 0; i < count; i++)
        {
            yield return new StreamItem(StreamItemKind.Event, new TaskEventEnvelope(Guid.NewGuid(), Guid.NewGuid(), "task.test", $"\"{data}\"", DateTimeOffset.UnixEpoch));
        }

        await Task.CompletedTask;
    }

    private static StreamItem Event(int n) =>
        new(StreamItemKind.Event, new TaskEventEnvelope(IdOf(n), Guid.Empty, "task.test", $"{{\"n\":{n}}}", DateTimeOffset.UnixEpoch));

    private static Guid IdOf(int n) => new($"00000000-0000-0000-0000-{n:D12}");

    private static string Frame(int n) => $"id: {IdOf(n)}\nevent: task.test\ndata: {{\"n\":{n}}}\n\n";

    private static int Count(string text, string part) => (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;

    private static async Task ReadUntilAsync(PipeReader reader, StringBuilder received, string end)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        while (!received.ToString().EndsWith(end, StringComparison.Ordinal))
        {
            var result = await reader.ReadAsync(deadline.Token);
            received.Append(Encoding.UTF8.GetString(result.Buffer));
            reader.AdvanceTo(result.Buffer.End);
        }
    }

    /// <summary>The response's pipe, counting its flushes (each one a write to the client).</summary>
    private sealed class CountingWriter(PipeWriter inner) : PipeWriter
    {
        private int _flushes;

        public int Flushes => Volatile.Read(ref _flushes);

        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        /// <summary>The flush from which on each one throws, as Kestrel's does once the request is aborted (0: none).</summary>
        public int FailFlushAfter { get; init; }

        public Action? OnFail { get; init; }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            if (Interlocked.Increment(ref _flushes) >= FailFlushAfter && FailFlushAfter > 0)
            {
                OnFail?.Invoke();
                throw new OperationCanceledException("The client left.");
            }

            return inner.FlushAsync(cancellationToken);
        }
    }
}
