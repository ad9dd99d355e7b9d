using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Ai;
using AssistenteIa.Infrastructure.Webhooks;
using AssistenteIaApi.ServiceB.Worker.Skills.Integration;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Skills;

/// <summary>The integration skill's guard at connection time, without the app: what the API's check at POST cannot see (DNS may change).</summary>
public sealed class ExternalIntegrationSkillTests
{
    [Theory]
    [InlineData("http://127.0.0.1:9/")]
    [InlineData("http://localhost:9/")]
    [InlineData("http://[::1]:9/")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://10.1.2.3/")]
    public async Task A_url_that_leads_inside_is_refused_at_connection_as_a_permanent_error(string url)
    {
        var options = Options.Create(new IntegrationsOptions { Timeout = TimeSpan.FromSeconds(5) });
        using var client = new IntegrationHttpClient(new OutboundUrlPolicy(Options.Create(new OutboundOptions())), options);
        var ai = new AiOptions();
        var chat = new ChatClientTaskExecutor(ChatClientFactory.Create(ai, null, new TokenCounter(), TimeProvider.System), new TokenCounter(), Options.Create(ai));
        var skill = new ExternalIntegrationSkill(client, options, chat);
        var request = new ExecutionRequest(Guid.NewGuid(), "tenant", 1, new TaskType(DomainType.DataAnalysis, CapabilityType.ExternalIntegration, ExecutionType.Async),
            new TaskPayload { Request = new HttpCallSpec { Url = url } });

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => skill.ExecuteAsync(request, CancellationToken.None));

        Assert.Equal((ErrorKind.Permanent, "UrlRefused"), (error.Kind, error.Code));
        Assert.Equal((1L, "calls"), (error.Usage.Units, error.Usage.Unit));
    }
}
