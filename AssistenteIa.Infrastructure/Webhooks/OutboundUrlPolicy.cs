using System.Net;
using System.Net.Sockets;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Webhooks;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Infrastructure.Webhooks;

/// <summary>
/// The SSRF guard for tenant-given URLs: http or https only, no credentials in the URL, no address that reaches
/// inside (loopback, private, link-local and cloud metadata, carrier-grade NAT, multicast, reserved) unless configured,
/// and on public addresses only the allowed ports (<see cref="OutboundOptions.AllowedPorts"/>: 80 and 443 unless
/// configured). Checked when a URL is registered and again at each connection (<see cref="ConnectAsync"/>): DNS can
/// change, and a URL stored under an earlier configuration is held to the running one.
/// </summary>
/// <param name="options">What may be reached.</param>
/// <param name="resolve">The host's addresses (DNS); tests give a resolver of their own.</param>
public sealed class OutboundUrlPolicy(IOptions<OutboundOptions> options, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null) : IOutboundUrlPolicy
{
    /// <summary>
    /// How long a check waits for a host's addresses. A tenant's URL may name a host whose name server never answers;
    /// the request checking it (a task's create, a webhook's registration) holds an API place meanwhile.
    /// </summary>
    public static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(2);

    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve = resolve ?? ((host, cancellationToken) => Dns.GetHostAddressesAsync(host, cancellationToken));

    private static readonly IPNetwork[] ThisHost = [IPNetwork.Parse("0.0.0.0/8"), IPNetwork.Parse("::/128")];

    private static readonly IPNetwork[] Internal =
    [
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("100.64.0.0/10"),
        IPNetwork.Parse("169.254.0.0/16"),
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.0.0.0/24"),
        IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("198.18.0.0/15"),
        IPNetwork.Parse("224.0.0.0/4"),
        IPNetwork.Parse("240.0.0.0/4"),
        IPNetwork.Parse("::/96"),
        IPNetwork.Parse("64:ff9b::/96"),
        IPNetwork.Parse("64:ff9b:1::/48"),
        IPNetwork.Parse("2001::/32"),
        IPNetwork.Parse("2002::/16"),
        IPNetwork.Parse("fc00::/7"),
        IPNetwork.Parse("fec0::/10"),
        IPNetwork.Parse("fe80::/10"),
        IPNetwork.Parse("ff00::/8"),
    ];

    /// <summary>
    /// The networks <see cref="OutboundOptions.AllowPrivateNetworks"/> opens to any port: the operator's own (private,
    /// carrier-grade NAT, link-local, unique-local, site-local). The other internal ranges it opens (NAT64, 6to4, Teredo,
    /// IPv4-compatible, benchmarking, reserved, multicast) may carry or reach public addresses, so their ports stay
    /// restricted.
    /// </summary>
    private static readonly IPNetwork[] OperatorNetworks =
    [
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("100.64.0.0/10"),
        IPNetwork.Parse("169.254.0.0/16"),
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("fc00::/7"),
        IPNetwork.Parse("fe80::/10"),
        IPNetwork.Parse("fec0::/10"),
    ];

    public async Task<string?> CheckAsync(Uri url, CancellationToken cancellationToken)
    {
        if (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https"))
        {
            return "Only http and https URLs are allowed.";
        }

        if (!string.IsNullOrEmpty(url.UserInfo))
        {
            return "The URL must not carry credentials.";
        }

        IPAddress[] addresses;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ResolveTimeout);
        try
        {
            addresses = await ResolveAsync(url.IdnHost, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException)
        {
            return $"The host '{url.Host}' does not resolve.";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"The host '{url.Host}' did not resolve within {ResolveTimeout.TotalSeconds:0} s.";
        }

        return addresses.Length == 0 ? $"The host '{url.Host}' does not resolve."
            : addresses.Any(a => !IsAllowed(a)) ? $"The host '{url.Host}' resolves to an internal address, which webhooks may not reach."
            : !IsPortAllowed(url.Port, addresses) ? PortRefusal(url.Port, options.Value)
            : null;
    }

    /// <summary>
    /// Whether <paramref name="port"/> may be reached on <paramref name="addresses"/> (each of them allowed by
    /// <see cref="IsAllowed"/>): any port when every address is one the operator opened (loopback, the operator's own
    /// networks), otherwise only the allowed ports.
    /// </summary>
    public bool IsPortAllowed(int port, IReadOnlyCollection<IPAddress> addresses) =>
        options.Value.EffectiveAllowedPorts.Contains(port) || addresses.All(IsOpenedByOperator);

    private static string PortRefusal(int port, OutboundOptions settings) =>
        $"Port {port} is not allowed; URLs may use port {string.Join(" or ", settings.EffectiveAllowedPorts)}.";

    public bool IsAllowed(IPAddress address)
    {
        address = Unmapped(address);

        // 0.0.0.0/8 and :: reach the machine itself on Linux: loopback, whatever AllowPrivateNetworks says.
        if (IsThisHost(address))
        {
            return options.Value.AllowLoopback;
        }

        return options.Value.AllowPrivateNetworks || !Internal.Any(network => network.Contains(address));
    }

    /// <summary>An address reached only because the operator allowed loopback or private networks.</summary>
    private bool IsOpenedByOperator(IPAddress address)
    {
        address = Unmapped(address);
        return IsThisHost(address) ? options.Value.AllowLoopback : options.Value.AllowPrivateNetworks && OperatorNetworks.Any(network => network.Contains(address));
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static bool IsThisHost(IPAddress address) => IPAddress.IsLoopback(address) || ThisHost.Any(network => network.Contains(address));

    /// <summary>
    /// The connection step of the webhook HTTP client: resolves the host itself and connects only when every address
    /// is allowed, so a name that resolved to a public address at registration cannot later lead inside.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = await ResolveAsync(host, cancellationToken);
        if (addresses.Length == 0)
        {
            // Not a refusal: a name server that answers nothing now may answer later.
            throw new HttpRequestException($"The host '{host}' does not resolve.");
        }

        if (addresses.Any(a => !IsAllowed(a)))
        {
            throw new OutboundUrlRefusedException(host, "The URL leads to an internal address.");
        }

        if (!IsPortAllowed(context.DnsEndPoint.Port, addresses))
        {
            throw new OutboundUrlRefusedException(host, PortRefusal(context.DnsEndPoint.Port, options.Value));
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A client for tenant-given URLs: no proxy (it would bypass the address check), no redirects (they could lead
    /// inside), connections made through this guard, and no resilience handlers: a retry is a recorded attempt, not a
    /// hidden one. Callers set their own overall timeout per request.
    /// </summary>
    public HttpClient CreateHttpClient(TimeSpan connectTimeout, string product)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            ConnectCallback = ConnectAsync,
            ConnectTimeout = connectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        };
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.Add(new System.Net.Http.Headers.ProductInfoHeaderValue(product, "1.0"));
        return http;
    }

    private async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await _resolve(host, cancellationToken).WaitAsync(cancellationToken);
}

/// <summary>
/// The guard refused a connection (<see cref="OutboundUrlPolicy.ConnectAsync"/>): <see cref="Reason"/> says why in
/// words a tenant may read (it names no address).
/// </summary>
public sealed class OutboundUrlRefusedException(string host, string reason)
    : HttpRequestException($"Refused to connect to '{host}'. {reason}")
{
    public string Reason { get; } = reason;
}
