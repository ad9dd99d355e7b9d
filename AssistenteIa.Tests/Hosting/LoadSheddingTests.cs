using System.Net;
using System.Text.Json;
using AssistenteIaApi.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ApplicationParts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Tests.Hosting;

/// <summary>
/// An instance at capacity refuses at once (503, Retry-After, problem+json) instead of letting requests wait for a
/// database connection; a request that waited its turn runs; event streams and the requests' bodies hold no place.
/// The filter runs in a host of its own (real Kestrel, real HTTP), with one place and one waiting room.
/// </summary>
public sealed class LoadSheddingTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration["LoadShedding:MaxConcurrentRequests"] = "2";
        builder.Configuration["LoadShedding:MaxConcurrentRequestsPerTenant"] = "1";
        builder.Configuration["LoadShedding:QueueLimit"] = "2";
        builder.Services.AddSingleton<Gates>();
        builder.Services.AddControllers().ConfigureApplicationPartManager(parts =>
        {
            parts.ApplicationParts.Clear();
            parts.ApplicationParts.Add(new AssemblyPart(typeof(GatedController).Assembly));
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddLoadShedding(builder.Configuration);
        _app = builder.Build();
        var gates = _app.Services.GetRequiredService<Gates>();
        _app.Use((context, next) =>
        {
            gates.Arrive(context.Request.Path);

            // Stands in for the API key: the tenant the request is from, as the API's authentication names it.
            if (context.Request.Headers["X-Tenant"].ToString() is { Length: > 0 } tenant)
            {
                context.User = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity([new System.Security.Claims.Claim(ApiKeyAuthenticationHandler.TenantClaim, tenant)], "test"));
            }

            return next(context);
        });
        _app.MapControllers();
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.Urls.First()), Timeout = Deadline };
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        _app.Services.GetRequiredService<Gates>().OpenAll();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Past_the_waiting_room_a_request_is_refused_at_once_and_the_waiting_ones_run_when_places_free()
    {
        var gates = _app.Services.GetRequiredService<Gates>();
        using var metrics = new ShedMetrics(_app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());

        // Five tenants, one request each: two run, two wait in the room, the fifth is refused.
        var (a, b) = await TakeBothPlacesAsync();
        var c = Get("c", "t3");
        await WaitQueuedAsync(1);
        var d = Get("d", "t4");
        await WaitQueuedAsync(2);
        Assert.Equal(2, metrics.Waiting());
        Assert.Equal(0, metrics.Shed);

        using var refused = await Get("e", "t5");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("1", Assert.Single(refused.Headers.GetValues("Retry-After")));
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal(503, problem.GetProperty("status").GetInt32());
        Assert.Contains("at capacity", problem.GetProperty("detail").GetString());
        Assert.Equal(1, metrics.Shed);
        Assert.False(gates.Entered("e"), "a refused request must not run");
        Assert.False(gates.Entered("c") || gates.Entered("d"), "the waiting requests must not run while the places are held");

        gates.Open("a");
        await gates.WaitEnteredAsync("c", Deadline);
        await OpenAllAndExpectOkAsync(a, b, c, d);
    }

    [Fact]
    public async Task A_tenant_holds_at_most_its_share_and_waits_in_a_room_of_its_own_while_another_tenant_is_served()
    {
        var gates = _app.Services.GetRequiredService<Gates>();
        var admission = _app.Services.GetRequiredService<LoadShedding.Admission>();

        // t1's share is one place: its next requests wait in t1's own room, not in the instance's.
        var first = Get("a", "t1");
        await gates.WaitEnteredAsync("a", Deadline);
        var second = Get("b", "t1");
        await WaitAsync(() => admission.GetStatistics("t1")?.CurrentQueuedCount == 1);
        var third = Get("c", "t1");
        await WaitAsync(() => admission.GetStatistics("t1")?.CurrentQueuedCount == 2);
        Assert.Equal(0, admission.GetStatistics()?.CurrentQueuedCount);

        // Its room (as large as the instance's, two) is full: the next is refused as the tenant's own excess.
        using (var refused = await Get("d", "t1"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal("1", Assert.Single(refused.Headers.GetValues("Retry-After")));
            Assert.Contains("This tenant", JsonDocument.Parse(await refused.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("detail").GetString());
        }

        // The instance's other place is still there for another tenant.
        var other = Get("x", "t2");
        await gates.WaitEnteredAsync("x", Deadline);
        Assert.False(gates.Entered("b"));

        await OpenAllAndExpectOkAsync(first, second, third, other);
    }

    [Fact]
    public async Task An_event_stream_holds_no_place_and_a_full_instance_still_opens_one()
    {
        var gates = _app.Services.GetRequiredService<Gates>();
        var stream = _client.GetAsync("/test/stream/s", TestContext.Current.CancellationToken);
        await gates.WaitEnteredAsync("s", Deadline);

        // With the stream open both places are still free; with them and the room taken, another stream still opens.
        var (a, b) = await TakeBothPlacesAsync();
        var c = Get("c", "t3");
        var d = Get("d", "t4");
        await WaitQueuedAsync(2);
        using (var refused = await Get("e", "t5"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        var second = _client.GetAsync("/test/stream/t", TestContext.Current.CancellationToken);
        await gates.WaitEnteredAsync("t", Deadline);

        await OpenAllAndExpectOkAsync(stream, a, b, c, d, second);
    }

    [Fact]
    public async Task A_client_sending_its_body_slowly_holds_no_place()
    {
        var gates = _app.Services.GetRequiredService<Gates>();

        // A body that never finishes: model binding waits for it before the action filter asks for a place.
        var body = new TaskCompletionSource();
        using var slowContent = new StalledContent(body.Task);
        slowContent.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var slow = _client.PostAsync("/test/body/x", slowContent, TestContext.Current.CancellationToken);
        await gates.WaitArrivedAsync("/test/body/x", Deadline);

        // Both places are still free for requests that run, and the room for one that waits.
        var (a, b) = await TakeBothPlacesAsync();
        var c = Get("c", "t3");
        await WaitQueuedAsync(1);
        await OpenAllAndExpectOkAsync(a, b, c);

        Assert.False(slow.IsCompleted);
        body.SetResult();
        using var finished = await slow;
        Assert.Equal(HttpStatusCode.OK, finished.StatusCode);
    }

    /// <summary>Two requests of two tenants that run and hold the instance's two places until their gates open.</summary>
    private async Task<(Task<HttpResponseMessage> A, Task<HttpResponseMessage> B)> TakeBothPlacesAsync()
    {
        var gates = _app.Services.GetRequiredService<Gates>();
        var a = Get("a", "t1");
        var b = Get("b", "t2");
        await gates.WaitEnteredAsync("a", Deadline);
        await gates.WaitEnteredAsync("b", Deadline);
        return (a, b);
    }

    /// <summary>Lets every gated request go and expects each of <paramref name="requests"/> to be answered 200.</summary>
    private async Task OpenAllAndExpectOkAsync(params Task<HttpResponseMessage>[] requests)
    {
        _app.Services.GetRequiredService<Gates>().OpenAll();
        foreach (var response in await Task.WhenAll(requests))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
    }

    private Task<HttpResponseMessage> Get(string gate, string tenant)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/test/gated/{gate}");
        request.Headers.Add("X-Tenant", tenant);
        return _client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }

    /// <summary>Until <paramref name="count"/> requests wait in the limiter's room (a send reaches it a moment later).</summary>
    private Task WaitQueuedAsync(long count)
    {
        var admission = _app.Services.GetRequiredService<LoadShedding.Admission>();
        return WaitAsync(() => admission.GetStatistics()?.CurrentQueuedCount == count);
    }

    /// <summary>The two instruments of this host's limiter (its own meter factory, so other tests' hosts do not count).</summary>
    private sealed class ShedMetrics : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private long _shed;
        private long _waiting;

        public ShedMetrics(System.Diagnostics.Metrics.IMeterFactory scope)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == scope && instrument.Meter.Name == LoadShedding.Admission.MeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
            {
                if (instrument.Name == "assistenteia.api.requests.shed")
                {
                    Interlocked.Add(ref _shed, value);
                }
                else if (instrument.Name == "assistenteia.api.requests.waiting")
                {
                    Interlocked.Exchange(ref _waiting, value);
                }
            });
            _listener.Start();
        }

        public long Shed => Interlocked.Read(ref _shed);

        public long Waiting()
        {
            _listener.RecordObservableInstruments();
            return Interlocked.Read(ref _waiting);
        }

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>A JSON body of "{}" whose first byte is sent at once and whose last waits for <paramref name="release"/>.</summary>
    private sealed class StalledContent(Task release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync("{"u8.ToArray());
            await stream.FlushAsync();
            await release;
            await stream.WriteAsync("}"u8.ToArray());
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

/// <summary>Where each test request says it runs and waits to be let go.</summary>
public sealed class Gates
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (TaskCompletionSource Entered, TaskCompletionSource Open)> _gates = new();

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _arrivals = new();
    private volatile bool _allOpen;

    public bool Entered(string name) => Gate(name).Entered.Task.IsCompleted;

    /// <summary>A request's headers reached the host (before routing, binding and filters).</summary>
    public void Arrive(string path) => Arrival(path).TrySetResult();

    public Task WaitArrivedAsync(string path, TimeSpan deadline) => Arrival(path).Task.WaitAsync(deadline);

    public Task WaitEnteredAsync(string name, TimeSpan deadline) => Gate(name).Entered.Task.WaitAsync(deadline);

    public void Open(string name) => Gate(name).Open.TrySetResult();

    /// <summary>Opens every gate, also those of requests that have not reached theirs yet.</summary>
    public void OpenAll()
    {
        _allOpen = true;
        foreach (var gate in _gates.Values)
        {
            gate.Open.TrySetResult();
        }
    }

    public async Task PassAsync(string name, CancellationToken cancellationToken)
    {
        var gate = Gate(name);
        gate.Entered.TrySetResult();
        if (!_allOpen)
        {
            await gate.Open.Task.WaitAsync(cancellationToken);
        }
    }

    private TaskCompletionSource Arrival(string path) => _arrivals.GetOrAdd(path, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));

    private (TaskCompletionSource Entered, TaskCompletionSource Open) Gate(string name) =>
        _gates.GetOrAdd(name, _ => (new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously)));
}

[ApiController]
[Route("test")]
public sealed class GatedController(Gates gates) : ControllerBase
{
    [HttpGet("gated/{name}")]
    public async Task<IActionResult> Gated(string name, CancellationToken cancellationToken)
    {
        await gates.PassAsync(name, cancellationToken);
        return Ok();
    }

    [HttpGet("stream/{name}")]
    [LongLivedRequest]
    public async Task<IActionResult> Stream(string name, CancellationToken cancellationToken)
    {
        await gates.PassAsync(name, cancellationToken);
        return Ok();
    }

    [HttpPost("body/{name}")]
    public IActionResult Body(string name, [FromBody] JsonElement body) => Ok();
}
