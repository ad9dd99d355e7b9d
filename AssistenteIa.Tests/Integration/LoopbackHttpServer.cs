using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AssistenteIa.Tests.Integration;

/// <summary>One request a <see cref="LoopbackHttpServer"/> got.</summary>
public sealed record ReceivedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, string? ContentType, string Body);

/// <summary>
/// An HTTP server inside the test process, on a loopback port, for the calls tasks make: records every request and
/// answers each with the next planned reply (200 with an empty body once the plan is used up).
/// </summary>
public sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<Func<ReceivedRequest, HttpListenerResponse, CancellationToken, Task>> _plan;
    private readonly ConcurrentQueue<ReceivedRequest> _received = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _serving;

    public LoopbackHttpServer(params Func<ReceivedRequest, HttpListenerResponse, CancellationToken, Task>[] plan)
    {
        _plan = new ConcurrentQueue<Func<ReceivedRequest, HttpListenerResponse, CancellationToken, Task>>(plan);
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    public IReadOnlyList<ReceivedRequest> Received => [.. _received];

    /// <summary>A reply with <paramref name="status"/>, a body and extra headers.</summary>
    public static Func<ReceivedRequest, HttpListenerResponse, CancellationToken, Task> Reply(
        int status, string body = "", string contentType = "text/plain; charset=utf-8", params (string Name, string Value)[] headers) =>
        (_, response, cancellationToken) => WriteAsync(response, status, body, contentType, headers, cancellationToken);

    /// <summary>A reply built from the request (an echo).</summary>
    public static Func<ReceivedRequest, HttpListenerResponse, CancellationToken, Task> Reply(Func<ReceivedRequest, (int Status, string Body, string ContentType)> answer) =>
        (request, response, cancellationToken) =>
        {
            var (status, body, contentType) = answer(request);
            return WriteAsync(response, status, body, contentType, [], cancellationToken);
        };

    /// <summary>Sends 200 and its headers at once, then one byte of body every <paramref name="interval"/>, <paramref name="bytes"/> times.</summary>
    public static Func<ReceivedRequest, HttpListenerResponse, CancellationToken, Task> Trickle(int bytes, TimeSpan interval) =>
        async (_, response, cancellationToken) =>
        {
            response.StatusCode = 200;
            response.ContentType = "text/plain";
            response.SendChunked = true;
            for (var i = 0; i < bytes; i++)
            {
                await response.OutputStream.WriteAsync("x"u8.ToArray(), cancellationToken);
                await response.OutputStream.FlushAsync(cancellationToken);
                await Task.Delay(interval, cancellationToken);
            }

            response.Close();
        };

    /// <summary>A chunked body (no Content-Length) of <paramref name="bytes"/> bytes.</summary>
    public static Func<ReceivedRequest, HttpListenerResponse, CancellationToken, Task> Chunked(int bytes) =>
        async (_, response, cancellationToken) =>
        {
            response.StatusCode = 200;
            response.ContentType = "application/octet-stream";
            response.SendChunked = true;
            var chunk = new byte[8192];
            for (var sent = 0; sent < bytes; sent += chunk.Length)
            {
                await response.OutputStream.WriteAsync(chunk.AsMemory(0, Math.Min(chunk.Length, bytes - sent)), cancellationToken);
            }

            response.Close();
        };

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        _listener.Close();
        try
        {
            await _serving;
        }
        catch (Exception)
        {
            // The listener throws from GetContextAsync once stopped.
        }

        _stopping.Dispose();
    }

    private static async Task WriteAsync(HttpListenerResponse response, int status, string body, string contentType, (string Name, string Value)[] headers, CancellationToken cancellationToken)
    {
        response.StatusCode = status;
        foreach (var (name, value) in headers)
        {
            response.AddHeader(name, value);
        }

        var bytes = Encoding.UTF8.GetBytes(body);
        if (bytes.Length > 0)
        {
            response.ContentType = contentType;
            await response.OutputStream.WriteAsync(bytes, cancellationToken);
        }

        response.Close();
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        try
        {
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var headers = context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
            var request = new ReceivedRequest(context.Request.HttpMethod, context.Request.Url!.PathAndQuery, headers, context.Request.ContentType, body);
            _received.Enqueue(request);
            var reply = _plan.TryDequeue(out var planned) ? planned : Reply(200);
            await reply(request, context.Response, _stopping.Token);
        }
        catch (Exception)
        {
            // The caller went away mid-answer (its timeout, or the server stopping): nothing more to send.
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
