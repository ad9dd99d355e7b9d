using System.Text;
using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Ai;
using AssistenteIa.Infrastructure.Webhooks;
using AssistenteIa.Tests.Integration;
using AssistenteIaApi.ServiceB.Worker.Skills.Integration;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Skills;

/// <summary>The integration skill's guard at connection time, without the app: what the API's check at POST cannot see (DNS may change).</summary>
public sealed class ExternalIntegrationSkillTests
{
    [Theory]
    [InlineData("http://127.0.0.1:9/", "The URL leads to an internal address. Tasks may not reach it.")]
    [InlineData("http://localhost:9/", "The URL leads to an internal address. Tasks may not reach it.")]
    [InlineData("http://[::1]:9/", "The URL leads to an internal address. Tasks may not reach it.")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "The URL leads to an internal address. Tasks may not reach it.")]
    [InlineData("http://10.1.2.3/", "The URL leads to an internal address. Tasks may not reach it.")]
    [InlineData("http://8.8.8.8:25/", "Port 25 is not allowed; URLs may use port 80 or 443. Tasks may not reach it.")]
    public async Task A_url_the_guard_refuses_is_refused_at_connection_as_a_permanent_error_that_says_why(string url, string message)
    {
        var options = Options.Create(new IntegrationsOptions { Timeout = TimeSpan.FromSeconds(5) });
        using var client = new IntegrationHttpClient(new OutboundUrlPolicy(Options.Create(new OutboundOptions())), options);
        var ai = new AiOptions();
        var chat = new ChatClientTaskExecutor(ChatClientFactory.Create(ai, null, new TokenCounter(), TimeProvider.System), new TokenCounter(), Options.Create(ai));
        var skill = new ExternalIntegrationSkill(client, options, chat);
        var request = new ExecutionRequest(Guid.NewGuid(), "tenant", 1, new TaskType(DomainType.DataAnalysis, CapabilityType.ExternalIntegration, ExecutionType.Async),
            new TaskPayload { Request = new HttpCallSpec { Url = url } });

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => skill.ExecuteAsync(request, CancellationToken.None));

        Assert.Equal((ErrorKind.Permanent, "UrlRefused", message), (error.Kind, error.Code, error.Message));
        Assert.Equal((1L, "calls"), (error.Usage.Units, error.Usage.Unit));
    }

    private const string SecretValue = "s3cret-Value-42";

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task A_secret_goes_over_plain_http_only_when_it_explicitly_allows_it(bool allowHttp, bool sent)
    {
        await using var server = new LoopbackHttpServer(LoopbackHttpServer.Reply(200, "ok"));
        var skill = LoopbackSkill(new IntegrationSecret { Value = SecretValue, AllowedHosts = ["127.0.0.1"], AllowHttp = allowHttp }, out var client);
        using var _ = client;

        var attempt = () => skill.ExecuteAsync(SecretRequest(server.Url + "/x"), CancellationToken.None);

        if (sent)
        {
            await attempt();
            Assert.Equal(SecretValue, Assert.Single(server.Received).Headers["X-Token"]);
        }
        else
        {
            var error = await Assert.ThrowsAsync<TaskExecutionException>(attempt);
            Assert.Equal((ErrorKind.Permanent, "SecretNotAllowed"), (error.Kind, error.Code));
            Assert.Empty(server.Received);
        }
    }

    [Theory]
    [InlineData("https://api.partner.com/", true)]
    [InlineData("https://api.partner.com:443/", true)]
    [InlineData("http://api.partner.com/", false)]
    [InlineData("https://api.partner.com:8443/", false)]
    [InlineData("https://evil.example/", false)]
    public void A_secret_bound_to_a_port_goes_over_https_to_that_port_only(string url, bool allowed)
    {
        var secret = new IntegrationSecret { Value = "v", AllowedHosts = ["api.partner.com"], AllowedPorts = [443] };

        Assert.Equal(allowed, secret.AllowsUrl(new Uri(url)));
    }

    [Theory]
    [InlineData("utf-16")]
    [InlineData("utf-16BE")]
    [InlineData("utf-32")]
    [InlineData("utf-8")]
    public async Task A_secret_echoed_in_the_bodys_own_charset_is_redacted(string charset)
    {
        var encoding = Encoding.GetEncoding(charset);
        await using var server = new LoopbackHttpServer(async (request, response, cancellationToken) =>
        {
            response.StatusCode = 200;
            response.ContentType = $"text/plain; charset={charset}";
            response.AddHeader("X-Echo", request.Headers["X-Token"].ToUpperInvariant());
            await response.OutputStream.WriteAsync(encoding.GetBytes($"you sent {request.Headers["X-Token"]}"), cancellationToken);
            response.Close();
        });
        var skill = LoopbackSkill(new IntegrationSecret { Value = SecretValue, AllowedHosts = ["127.0.0.1"], AllowHttp = true }, out var client);
        using var _ = client;

        var result = await skill.ExecuteAsync(SecretRequest(server.Url + "/echo"), CancellationToken.None);

        var artifact = Assert.Single(result.Artifacts);
        var response = JsonDocument.Parse(artifact.Content!).RootElement;
        Assert.False(response.GetProperty("bodyBase64").GetBoolean());
        Assert.Equal("you sent [redacted]", response.GetProperty("body").GetString());
        Assert.Equal("[redacted]", response.GetProperty("headers").EnumerateObject().Single(h => h.Name.Equals("X-Echo", StringComparison.OrdinalIgnoreCase)).Value.GetString());
        Assert.DoesNotContain(SecretValue, artifact.Content!, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_secret_in_a_body_kept_as_bytes_is_redacted_in_every_unicode_encoding()
    {
        foreach (var encoding in new[] { Encoding.UTF8, Encoding.Unicode, Encoding.BigEndianUnicode, Encoding.UTF32 })
        {
            var redacted = HttpCallOutcome.Redact(encoding.GetBytes($"\0{SecretValue}\0"), [SecretValue]);

            Assert.Equal("\0[redacted]\0", encoding.GetString(redacted));
        }
    }

    private static ExternalIntegrationSkill LoopbackSkill(IntegrationSecret secret, out IntegrationHttpClient client)
    {
        var options = Options.Create(new IntegrationsOptions { Timeout = TimeSpan.FromSeconds(10), Secrets = { ["token"] = secret } });
        client = new IntegrationHttpClient(new OutboundUrlPolicy(Options.Create(new OutboundOptions { AllowLoopback = true })), options);
        var ai = new AiOptions();
        var chat = new ChatClientTaskExecutor(ChatClientFactory.Create(ai, null, new TokenCounter(), TimeProvider.System), new TokenCounter(), Options.Create(ai));
        return new ExternalIntegrationSkill(client, options, chat);
    }

    private static ExecutionRequest SecretRequest(string url) =>
        new(Guid.NewGuid(), "tenant", 1, new TaskType(DomainType.DataAnalysis, CapabilityType.ExternalIntegration, ExecutionType.Async),
            new TaskPayload { Request = new HttpCallSpec { Url = url, SecretHeaders = new Dictionary<string, string> { ["X-Token"] = "token" } } });
}
