using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace AssistenteIa.Tests.Integration;

/// <summary>One request a <see cref="WebhookReceiver"/> got.</summary>
public sealed record ReceivedWebhook(string Id, string Timestamp, string Signature, string Body, DateTimeOffset At);

/// <summary>
/// A webhook receiver inside the test process, on a loopback port: records every request and answers each with the
/// next planned status code (200 once the plan is used up); a planned 0 holds the request open until released.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<int> _plan;
    private readonly Channel<ReceivedWebhook> _received = Channel.CreateUnbounded<ReceivedWebhook>();
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _serving;

    /// <summary>Requests read by a matching <see cref="NextAsync(Func{ReceivedWebhook, bool}, TimeSpan, string)"/> that did not match (one reader at a time).</summary>
    private readonly List<ReceivedWebhook> _kept = [];

    /// <summary>How long each request is held before it is answered (a slow receiver), or none.</summary>
    private readonly TimeSpan _answerAfter;

    private int _answering;
    private int _mostAnsweringAtOnce;

    public WebhookReceiver(params int[] plan)
        : this(TimeSpan.Zero, plan)
    {
    }

    private WebhookReceiver(TimeSpan answerAfter, int[] plan)
    {
        _answerAfter = answerAfter;
        _plan = new ConcurrentQueue<int>(plan);
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _serving = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>A receiver that answers every request with 200, each after <paramref name="answerAfter"/>.</summary>
    public static WebhookReceiver Slow(TimeSpan answerAfter) => new(answerAfter, []);

    /// <summary>The most requests this receiver was answering at one moment (any path), so far.</summary>
    public int MostAnsweringAtOnce => Volatile.Read(ref _mostAnsweringAtOnce);

    public string Url => $"http://127.0.0.1:{Port}/hooks";

    private readonly List<ReceivedWebhook> _all = [];

    /// <summary>Every request received so far: a copy, as the listener keeps adding while a test enumerates it.</summary>
    public IReadOnlyList<ReceivedWebhook> All
    {
        get
        {
            lock (_all)
            {
                return [.. _all];
            }
        }
    }

    /// <summary>Lets requests held by a planned 0 finish (with 200).</summary>
    public void Release() => _release.TrySetResult();

    /// <summary>
    /// The first request not yet taken that matches <paramref name="match"/>; those that do not match stay for later
    /// calls. Deliveries to one endpoint go out side by side, so events can arrive in any order.
    /// </summary>
    public async Task<ReceivedWebhook> NextAsync(Func<ReceivedWebhook, bool> match, TimeSpan deadline, string what)
    {
        using var timeout = new CancellationTokenSource(deadline);
        while (true)
        {
            var kept = _kept.FindIndex(r => match(r));
            if (kept >= 0)
            {
                var found = _kept[kept];
                _kept.RemoveAt(kept);
                return found;
            }

            try
            {
                _kept.Add(await _received.Reader.ReadAsync(timeout.Token));
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"No webhook request ({what}) within {deadline}; got {All.Count} so far.");
            }
        }
    }

    /// <summary>The first request not yet taken, whatever it is.</summary>
    public Task<ReceivedWebhook> NextAsync(TimeSpan deadline, string what) => NextAsync(_ => true, deadline, what);

    public async ValueTask DisposeAsync()
    {
        Release();
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
        var answering = Interlocked.Increment(ref _answering);
        for (var most = Volatile.Read(ref _mostAnsweringAtOnce); answering > most; most = Volatile.Read(ref _mostAnsweringAtOnce))
        {
            if (Interlocked.CompareExchange(ref _mostAnsweringAtOnce, answering, most) == most)
            {
                break;
            }
        }

        try
        {
            using var reader = new StreamReader(context.Request.InputStream);
            var body = await reader.ReadToEndAsync();
            var received = new ReceivedWebhook(
                context.Request.Headers["webhook-id"] ?? "",
                context.Request.Headers["webhook-timestamp"] ?? "",
                context.Request.Headers["webhook-signature"] ?? "",
                body,
                DateTimeOffset.UtcNow);
            lock (_all)
            {
                _all.Add(received);
            }

            _received.Writer.TryWrite(received);
            var status = _plan.TryDequeue(out var planned) ? planned : 200;
            if (status == 0)
            {
                await _release.Task;
                status = 200;
            }

            if (_answerAfter > TimeSpan.Zero)
            {
                await Task.Delay(_answerAfter);
            }

            context.Response.StatusCode = status;
            context.Response.Close();
        }
        catch (Exception)
        {
            // The sender went away mid-request (killed in a test): nothing to answer.
        }
        finally
        {
            Interlocked.Decrement(ref _answering);
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
