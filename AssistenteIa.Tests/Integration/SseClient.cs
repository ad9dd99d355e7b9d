using System.Threading.Channels;

namespace AssistenteIa.Tests.Integration;

/// <summary>One received Server-Sent Event (a comment has <see cref="Comment"/> set and nothing else).</summary>
public sealed record SseEvent(string? Id, string? Type, string Data, string? Comment = null);

/// <summary>
/// Reads a text/event-stream response line by line, as a browser's EventSource would, into a channel the test reads
/// with deadlines. Opening returns once the server flushed its first comment (the stream is registered by then).
/// </summary>
public sealed class SseClient : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<SseEvent> _events = Channel.CreateUnbounded<SseEvent>();
    private readonly HttpResponseMessage _response;
    private readonly Task _reading;

    private SseClient(HttpResponseMessage response)
    {
        _response = response;
        _reading = Task.Run(ReadAsync);
    }

    public string? ServedBy => _response.Headers.TryGetValues("X-Served-By", out var values) ? values.Single() : null;

    private readonly List<SseEvent> _received = [];

    /// <summary>
    /// Everything received so far, in order: a copy, as the reader keeps adding (a heartbeat comment every second)
    /// while a test enumerates it.
    /// </summary>
    public IReadOnlyList<SseEvent> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    public static async Task<SseClient> OpenAsync(HttpClient client, string path, string? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Clear();
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var sse = new SseClient(response);
        await sse.NextAsync(e => e.Comment == "connected", TimeSpan.FromSeconds(10), "the stream to open");
        return sse;
    }

    /// <summary>The next event (or comment) matching <paramref name="match"/>, skipping others; fails after the deadline.</summary>
    public async Task<SseEvent> NextAsync(Func<SseEvent, bool> match, TimeSpan deadline, string what)
    {
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            while (true)
            {
                var next = await _events.Reader.ReadAsync(timeout.Token);
                if (match(next))
                {
                    return next;
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw new TimeoutException($"No {what} within {deadline}; received: {string.Join(" | ", Received.Select(e => e.Type ?? $": {e.Comment}"))}");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"The stream ended before {what}");
        }
    }

    /// <summary>The events received until <paramref name="done"/> holds for the list of them.</summary>
    public async Task<List<SseEvent>> CollectUntilAsync(Func<List<SseEvent>, bool> done, TimeSpan deadline, string what)
    {
        var collected = new List<SseEvent>();
        while (!done(collected))
        {
            collected.Add(await NextAsync(e => e.Comment is null, deadline, what));
        }

        return collected;
    }

    /// <summary>Completes when the server ends the stream.</summary>
    public Task Completion => _events.Reader.Completion;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _response.Dispose();
        try
        {
            await _reading;
        }
        catch (Exception)
        {
            // Reading stops with an error when the response is disposed under it.
        }

        _stop.Dispose();
    }

    private async Task ReadAsync()
    {
        try
        {
            await using var body = await _response.Content.ReadAsStreamAsync(_stop.Token);
            using var reader = new StreamReader(body);
            string? id = null, type = null;
            var data = new List<string>();
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    if (data.Count > 0 || type is not null)
                    {
                        Publish(new SseEvent(id, type, string.Join('\n', data)));
                    }

                    (id, type) = (null, null);
                    data.Clear();
                }
                else if (line.StartsWith(':'))
                {
                    Publish(new SseEvent(null, null, "", line[1..].Trim()));
                }
                else if (line.StartsWith("id: ", StringComparison.Ordinal))
                {
                    id = line[4..];
                }
                else if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data.Add(line[6..]);
                }
            }
        }
        finally
        {
            _events.Writer.TryComplete();
        }
    }

    private void Publish(SseEvent sseEvent)
    {
        lock (_received)
        {
            _received.Add(sseEvent);
        }

        _events.Writer.TryWrite(sseEvent);
    }
}
