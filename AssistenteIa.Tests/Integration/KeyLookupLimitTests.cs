using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// A client that keeps sending unknown API keys stops costing the database a query each: past
/// <c>Tenancy:UnknownKeysPerAddress</c> (60 a minute) its keys not known to be valid are refused unchecked (429,
/// Retry-After) for up to a minute, while keys found valid lately still pass and other addresses are not touched. The client here connects from
/// 127.0.0.2 (all of 127/8 is this machine), an address of its own, so the other tests of the collection keep theirs.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class KeyLookupLimitTests(AppFixture fixture)
{
    private const int UnknownKeysPerAddress = 60;

    [Fact]
    public async Task An_address_that_sent_too_many_unknown_keys_has_its_other_keys_refused_unchecked()
    {
        var api = await ListeningAddressAsync();

        using var known = await fixture.CreateTenantClientAsync("keylimit");
        var knownKey = known.DefaultRequestHeaders.GetValues("X-Api-Key").Single();
        using var fresh = await fixture.CreateTenantClientAsync("keylimit");
        var freshKey = fresh.DefaultRequestHeaders.GetValues("X-Api-Key").Single();
        using var http = FromAddress(api, IPAddress.Parse("127.0.0.2"));
        using var other = FromAddress(api, IPAddress.Parse("127.0.0.3"));

        // Checked once from there: known to be valid from now on.
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, knownKey));

        for (var i = 0; i < UnknownKeysPerAddress; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(http, $"aia_guess-{i}-{Guid.NewGuid():N}"));
        }

        using var refused = await SendAsync(http, $"aia_guess-{Guid.NewGuid():N}");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.InRange(refused.Headers.RetryAfter?.Delta ?? TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        var problem = await TaskApi.ProblemAsync(refused);
        Assert.Contains("too many API keys that are not valid", problem.GetProperty("detail").GetString());

        // Not looked up at all: a valid key not checked before is refused from there too, and nothing of the request
        // was done. The one checked before still passes.
        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(http, freshKey));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, knownKey));

        // Another address is not touched: an unknown key from there is still a 401, and the fresh key works.
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(other, $"aia_guess-{Guid.NewGuid():N}"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(other, freshKey));
    }

    /// <summary>
    /// The port the API itself listens on, behind the AppHost's proxy: through the proxy every client would arrive
    /// from 127.0.0.1, as behind any reverse proxy.
    /// </summary>
    private async Task<Uri> ListeningAddressAsync()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var running = await fixture.App.ResourceNotifications.WaitForResourceAsync(
            "api", e => e.Snapshot.State?.Text == "Running" && e.Snapshot.EnvironmentVariables.Any(v => v.Name == "ASPNETCORE_URLS" && v.Value is not null), deadline.Token);
        var urls = running.Snapshot.EnvironmentVariables.First(v => v.Name == "ASPNETCORE_URLS").Value!;
        var port = new Uri(urls.Split(';').First(u => u.StartsWith("http://", StringComparison.Ordinal))).Port;
        return new Uri($"http://127.0.0.1:{port}/");
    }

    private static async Task<HttpStatusCode> StatusAsync(HttpClient http, string key)
    {
        using var response = await SendAsync(http, key);
        return response.StatusCode;
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/tasks?pageSize=1");
        request.Headers.Add("X-Api-Key", key);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return http.SendAsync(request);
    }

    /// <summary>A client whose connections to the API leave from <paramref name="local"/>.</summary>
    private static HttpClient FromAddress(Uri api, IPAddress local)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
    }
}
