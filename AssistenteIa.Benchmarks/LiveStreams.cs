using System.Net.Http.Headers;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// <c>--listen N</c>: N tenant-wide live streams (<c>GET /api/v1/tasks/events</c>, what the web page holds open) read
/// through every step, so that each task's events are published, relayed and streamed as they are while someone watches.
/// Without it nobody listens and the events are only stored (README, "Task events").
/// </summary>
internal sealed class LiveStreams : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _readers = [];
    private readonly HttpClient _http;
    private long _events;

    private LiveStreams(HttpClient http) => _http = http;

    /// <summary>The events received so far, over every stream.</summary>
    public long Events => Interlocked.Read(ref _events);

    public static async Task<LiveStreams> OpenAsync(SystemUnderTest system, int streams)
    {
        var opened = new LiveStreams(system.CreateHttpClient());
        try
        {
            for (var i = 0; i < streams; i++)
            {
                var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/tasks/events");
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
                var response = await opened._http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, opened._stop.Token);
                response.EnsureSuccessStatusCode();
                opened._readers.Add(opened.ReadAsync(response));
            }
        }
        catch
        {
            await opened.DisposeAsync();
            throw;
        }

        return opened;
    }

    private async Task ReadAsync(HttpResponseMessage response)
    {
        using (response)
        {
            try
            {
                await using var body = await response.Content.ReadAsStreamAsync(_stop.Token);
                using var reader = new StreamReader(body);
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    if (line.StartsWith("data:", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref _events);
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
        }

        if (!_stop.IsCancellationRequested)
        {
            throw new InvalidOperationException("A live stream ended while the benchmark ran.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_readers);
        }
        finally
        {
            _http.Dispose();
            _stop.Dispose();
        }
    }
}
