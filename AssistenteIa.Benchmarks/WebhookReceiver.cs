using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// <c>--webhook task.succeeded,…</c>: an endpoint of the benchmark's tenant subscribed to those event types, pointing at
/// a receiver on this machine that answers every delivery 204 at once, so that the run pays for webhooks as a tenant
/// with one does (ServiceC's fan-out, signing and sends), without a slow receiver's own time.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _serving;
    private long _deliveries;
    private volatile bool _stopping;

    private WebhookReceiver(int port)
    {
        Url = $"http://127.0.0.1:{port}/hook";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _serving = ServeAsync();
    }

    public string Url { get; }

    /// <summary>The deliveries received so far.</summary>
    public long Deliveries => Interlocked.Read(ref _deliveries);

    /// <summary>Starts the receiver and registers the endpoint (the API answers once events of those types reach it).</summary>
    public static async Task<WebhookReceiver> StartAsync(HttpClient api, IReadOnlyList<string> eventTypes)
    {
        var receiver = new WebhookReceiver(FreePort());
        try
        {
            var response = await api.PostAsJsonAsync("/api/v1/webhooks", new { url = receiver.Url, events = eventTypes, description = "benchmark" });
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"The webhook endpoint was refused: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }

            return receiver;
        }
        catch
        {
            await receiver.DisposeAsync();
            throw;
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task ServeAsync()
    {
        while (!_stopping)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stopping)
            {
                // Stop and Close end a pending wait with an HttpListenerException or an ObjectDisposedException.
                return;
            }

            _ = AnswerAsync(context);
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        try
        {
            await context.Request.InputStream.CopyToAsync(Stream.Null);
            Interlocked.Increment(ref _deliveries);
            context.Response.StatusCode = (int)HttpStatusCode.NoContent;
        }
        finally
        {
            context.Response.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        _listener.Stop();
        _listener.Close();
        await _serving;
    }
}
