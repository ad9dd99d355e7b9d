using System.Net;
using System.Net.Sockets;
using AssistenteIa.Application;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.Policies;
using AssistenteIa.Infrastructure;
using AssistenteIa.Infrastructure.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Domain;

public sealed class WebhookPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Retries_grow_exponentially_within_the_jitter_are_capped_and_end_after_the_last_attempt()
    {
        var policy = new WebhookRetryPolicy(MaxAttempts: 8, BaseDelay: TimeSpan.FromSeconds(10), Factor: 4, MaxDelay: TimeSpan.FromHours(12), Jitter: 0.2);

        Assert.Equal(Now.AddSeconds(10), policy.NextAttempt(1, Now, random: 0.5));
        Assert.Equal(Now.AddSeconds(40), policy.NextAttempt(2, Now, random: 0.5));
        Assert.Equal(Now.AddSeconds(8), policy.NextAttempt(1, Now, random: 0));
        Assert.Equal(Now.AddSeconds(12), policy.NextAttempt(1, Now, random: 1));
        Assert.Equal(Now.AddSeconds(10 * Math.Pow(4, 6)), policy.NextAttempt(7, Now, random: 0.5));
        Assert.Equal(Now.AddHours(1), (policy with { MaxDelay = TimeSpan.FromHours(1) }).NextAttempt(7, Now, random: 0.5));
        Assert.Null(policy.NextAttempt(8, Now, random: 0.5));
        var total = Enumerable.Range(1, 7).Select(n => policy.NextAttempt(n, Now, 0.5)!.Value - Now).Aggregate(TimeSpan.Zero, (a, b) => a + b);
        Assert.InRange(total, TimeSpan.FromHours(12), TimeSpan.FromHours(30));
    }

    [Fact]
    public void A_delivery_fails_for_good_when_no_retry_is_left_and_redelivery_starts_afresh()
    {
        var delivery = WebhookDelivery.Create(Guid.NewGuid(), "t", Guid.NewGuid(), "task.succeeded", "{}", Now);
        delivery.RecordFailure(500, "HTTP 500", Now.AddSeconds(10));
        Assert.Equal(WebhookDeliveryStatus.Pending, delivery.Status);
        Assert.Equal(Now.AddSeconds(10), delivery.NextAttemptAt);
        delivery.RecordFailure(null, "timeout", retryAt: null);
        Assert.Equal(WebhookDeliveryStatus.Failed, delivery.Status);
        Assert.Equal(2, delivery.Attempts);

        delivery.Redeliver(Now.AddMinutes(1));
        Assert.Equal((WebhookDeliveryStatus.Pending, 0, Now.AddMinutes(1)), (delivery.Status, delivery.Attempts, delivery.NextAttemptAt));
        delivery.RecordSuccess(204, Now.AddMinutes(2));
        Assert.Equal((WebhookDeliveryStatus.Succeeded, 204, (string?)null), (delivery.Status, delivery.LastStatusCode, delivery.LastError));
    }

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("::1", false)]
    [InlineData("10.1.2.3", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("192.168.0.10", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.100.100.200", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("::ffff:192.168.1.1", false)]
    [InlineData("fd12:3456::1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("fec0::1", false)]
    [InlineData("2001:0:4136:e378:8000:63bf:3fff:fdd2", false)]
    [InlineData("8.8.8.8", true)]
    [InlineData("172.32.0.1", true)]
    [InlineData("2606:4700::1111", true)]
    public void Only_public_addresses_are_allowed_by_default(string address, bool allowed) =>
        Assert.Equal(allowed, Policy().IsAllowed(IPAddress.Parse(address)));

    [Fact]
    public void Loopback_and_private_networks_are_allowed_only_by_configuration()
    {
        Assert.True(Policy(allowLoopback: true).IsAllowed(IPAddress.Loopback));
        Assert.False(Policy(allowLoopback: true).IsAllowed(IPAddress.Parse("10.0.0.1")));
        Assert.True(Policy(allowPrivate: true).IsAllowed(IPAddress.Parse("10.0.0.1")));
    }

    [Fact]
    public async Task The_connection_itself_is_refused_for_an_internal_address_whatever_the_registration_said()
    {
        // A listener that would answer: the refusal comes from the guard, not from a closed port.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var guarded = new HttpClient(new SocketsHttpHandler { ConnectCallback = Policy().ConnectAsync, UseProxy = false });

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => guarded.GetAsync($"http://127.0.0.1:{port}/"));
        Assert.Contains("internal address", refused.Message + refused.InnerException?.Message);
        using var allowed = new HttpClient(new SocketsHttpHandler { ConnectCallback = Policy(allowLoopback: true).ConnectAsync, UseProxy = false });
        var accepting = listener.AcceptTcpClientAsync();
        var request = allowed.GetAsync($"http://127.0.0.1:{port}/");
        using var accepted = await accepting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(accepted.Connected);
    }

    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("gopher://example.com/")]
    [InlineData("http://user:secret@8.8.8.8/")]
    [InlineData("http://10.0.0.1/")]
    public async Task Registration_refuses_other_schemes_credentials_and_internal_addresses(string url) =>
        Assert.NotNull(await Policy().CheckAsync(new Uri(url), CancellationToken.None));

    [Theory]
    [InlineData("https://8.8.8.8/hook", null)]
    [InlineData("http://8.8.8.8/hook", null)]
    [InlineData("http://8.8.8.8:443/hook", null)]
    [InlineData("https://8.8.8.8:8443/hook", "Port 8443 is not allowed; URLs may use port 80 or 443.")]
    [InlineData("http://8.8.8.8:22/", "Port 22 is not allowed; URLs may use port 80 or 443.")]
    [InlineData("http://[2606:4700::1111]:6379/", "Port 6379 is not allowed; URLs may use port 80 or 443.")]
    public async Task A_public_address_may_be_reached_only_on_the_allowed_ports(string url, string? problem) =>
        Assert.Equal(problem, await Policy().CheckAsync(new Uri(url), CancellationToken.None));

    [Fact]
    public async Task The_allowed_ports_are_the_configured_ones_and_addresses_the_operator_opened_take_any_port()
    {
        var configured = new OutboundUrlPolicy(Options.Create(new OutboundOptions { AllowedPorts = [8443] }));
        Assert.Null(await configured.CheckAsync(new Uri("https://8.8.8.8:8443/hook"), CancellationToken.None));
        Assert.Equal("Port 443 is not allowed; URLs may use port 8443.", await configured.CheckAsync(new Uri("https://8.8.8.8/hook"), CancellationToken.None));

        Assert.Null(await Policy(allowLoopback: true).CheckAsync(new Uri("http://127.0.0.1:5432/"), CancellationToken.None));
        Assert.Null(await Policy(allowPrivate: true).CheckAsync(new Uri("http://10.0.0.7:8080/"), CancellationToken.None));

        // A name resolving to an opened address and a public one is held to the public one's ports.
        var mixed = new OutboundUrlPolicy(Options.Create(new OutboundOptions { AllowPrivateNetworks = true }), (_, _) => Task.FromResult(new[] { IPAddress.Parse("10.0.0.7"), IPAddress.Parse("8.8.8.8") }));
        Assert.StartsWith("Port 8080 is not allowed", await mixed.CheckAsync(new Uri("http://both.example:8080/"), CancellationToken.None));
        Assert.Null(await mixed.CheckAsync(new Uri("https://both.example/"), CancellationToken.None));

        // Ranges that carry public IPv4 addresses (NAT64, 6to4) are internal, but not the operator's own: their ports
        // stay restricted even when private networks are allowed.
        Assert.StartsWith("Port 22 is not allowed", await Policy(allowPrivate: true).CheckAsync(new Uri("http://[64:ff9b::808:808]:22/"), CancellationToken.None));
        Assert.StartsWith("Port 22 is not allowed", await Policy(allowPrivate: true).CheckAsync(new Uri("http://[2002:808:808::1]:22/"), CancellationToken.None));
        Assert.StartsWith("Port 22 is not allowed", await Policy(allowPrivate: true).CheckAsync(new Uri("http://[::808:808]:22/"), CancellationToken.None));
        Assert.Null(await Policy(allowPrivate: true).CheckAsync(new Uri("http://[::ffff:10.0.0.7]:8080/"), CancellationToken.None));
    }

    [Fact]
    public async Task The_connection_to_a_public_address_on_a_port_not_allowed_is_refused_before_it_is_made()
    {
        // Refused by the guard itself, before any connection: a connection that was attempted would fail differently
        // (no route out here, or whatever answers on a machine that has one), not with the guard's words.
        using var guarded = new HttpClient(new SocketsHttpHandler { ConnectCallback = Policy().ConnectAsync, UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };

        var refused = await Assert.ThrowsAnyAsync<HttpRequestException>(() => guarded.GetAsync("http://8.8.8.8:25/"));
        Assert.Equal("Port 25 is not allowed; URLs may use port 80 or 443.", refused.Find<OutboundUrlRefusedException>()?.Reason);

        // A name is held to the same rule when its addresses are read at connection.
        var resolving = new OutboundUrlPolicy(Options.Create(new OutboundOptions { AllowPrivateNetworks = true }), (_, _) => Task.FromResult(new[] { IPAddress.Parse("10.0.0.7"), IPAddress.Parse("8.8.8.8") }));
        using var byName = new HttpClient(new SocketsHttpHandler { ConnectCallback = resolving.ConnectAsync, UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        refused = await Assert.ThrowsAnyAsync<HttpRequestException>(() => byName.GetAsync("http://both.example:8080/"));
        Assert.Equal("Port 8080 is not allowed; URLs may use port 80 or 443.", refused.Find<OutboundUrlRefusedException>()?.Reason);
    }

    [Theory]
    [InlineData("Outbound:AllowedPorts:1", "0")]
    [InlineData("Outbound:AllowedPorts:1", "65536")]
    [InlineData("Outbound:AllowedPorts:1", "-443")]
    [InlineData("Outbound:AllowedPorts", "443;8443")]
    [InlineData("Outbound:AllowedPorts", "8443")] // beside the list: which one was meant?
    public void Ports_that_are_not_ports_stop_the_start_of_the_services_that_register_them(string key, string value)
    {
        var settings = key == "Outbound:AllowedPorts" && value == "8443" || key.EndsWith(":1", StringComparison.Ordinal)
            ? new[] { ("Outbound:AllowedPorts:0", "443"), (key, value) }
            : [(key, value)];
        var refused = Assert.Throws<OptionsValidationException>(() => Registered(settings));
        Assert.Contains("Outbound:AllowedPorts", refused.Message);
    }

    [Fact]
    public void Configured_ports_replace_the_default_ones_whether_listed_or_written_as_one_value()
    {
        Assert.Equal([8443], Registered(("Outbound:AllowedPorts:0", "8443")).EffectiveAllowedPorts);
        Assert.Equal([443, 8443], Registered(("Outbound:AllowedPorts", "443, 8443")).EffectiveAllowedPorts);
        Assert.Equal([80, 443], Registered().EffectiveAllowedPorts);

        // An environment variable set to nothing (Compose's ${PORTS:-}, an empty Helm value) is no list.
        Assert.Equal([80, 443], Registered(("Outbound:AllowedPorts", "")).EffectiveAllowedPorts);
    }

    [Fact]
    public async Task A_host_whose_name_server_never_answers_is_refused_after_the_resolve_timeout()
    {
        var hanging = new TaskCompletionSource<System.Net.IPAddress[]>();
        var policy = new OutboundUrlPolicy(Options.Create(new OutboundOptions()), (_, _) => hanging.Task);
        var problem = await policy.CheckAsync(new Uri("https://never-answers.example/hook"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        Assert.Contains("did not resolve within", problem);
    }

    [Fact]
    public void An_outbox_id_tells_when_it_was_written()
    {
        var id = Guid.CreateVersion7(Now);
        Assert.Equal(Now, OutboxMessage.WrittenAt(id));
        Assert.Null(OutboxMessage.WrittenAt(Guid.NewGuid()));
    }

    /// <summary>The options as the services register them (<see cref="Infrastructure.DependencyInjection.AddOutboundGuard"/>), validated as at their start.</summary>
    private static OutboundOptions Registered(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)));
        builder.AddOutboundGuard();
        using var services = builder.Services.BuildServiceProvider();
        services.GetRequiredService<IStartupValidator>().Validate();
        return services.GetRequiredService<IOptions<OutboundOptions>>().Value;
    }

    private static OutboundUrlPolicy Policy(bool allowLoopback = false, bool allowPrivate = false) =>
        new(Options.Create(new OutboundOptions { AllowLoopback = allowLoopback, AllowPrivateNetworks = allowPrivate }));
}
