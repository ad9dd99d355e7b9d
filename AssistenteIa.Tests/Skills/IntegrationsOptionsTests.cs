using System.ComponentModel.DataAnnotations;
using AssistenteIaApi.ServiceB.Worker.Skills.Integration;

namespace AssistenteIa.Tests.Skills;

/// <summary>Integration secrets: each is bound to hosts (and optionally tenants), and a secret bound to nothing does not start.</summary>
public sealed class IntegrationsOptionsTests
{
    [Theory]
    [InlineData("api.partner.com", true)]
    [InlineData("API.Partner.com", true)]
    [InlineData("eu.partner.com", true)]
    [InlineData("a.b.partner.com", true)]
    [InlineData("partner.com", false)]
    [InlineData("evilpartner.com", false)]
    [InlineData("api.partner.com.evil.net", false)]
    [InlineData("attacker.example", false)]
    public void A_secret_goes_only_to_its_hosts(string host, bool allowed)
    {
        var secret = new IntegrationSecret { Value = "v", AllowedHosts = ["api.partner.com", "*.partner.com"] };

        Assert.Equal(allowed, secret.AllowsHost(host));
    }

    [Fact]
    public void A_secret_bound_to_tenants_is_theirs_and_one_bound_to_none_is_everyones()
    {
        Assert.True(new IntegrationSecret { Tenants = ["tenant-a"] }.AllowsTenant("tenant-a"));
        Assert.False(new IntegrationSecret { Tenants = ["tenant-a"] }.AllowsTenant("tenant-b"));
        Assert.True(new IntegrationSecret().AllowsTenant("tenant-b"));
    }

    [Fact]
    public void Secrets_without_hosts_or_with_a_line_break_in_their_value_are_refused_at_start()
    {
        var options = new IntegrationsOptions
        {
            Secrets =
            {
                ["fine"] = new IntegrationSecret { Value = "v", AllowedHosts = ["api.partner.com"] },
                ["anywhere"] = new IntegrationSecret { Value = "v" },
                ["injecting"] = new IntegrationSecret { Value = "v\r\nX-Evil: 1", AllowedHosts = ["api.partner.com"] },
            },
        };

        var problems = options.Validate(new ValidationContext(options)).Select(r => r.ErrorMessage!).ToList();

        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.Contains("anywhere:AllowedHosts", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("injecting", StringComparison.Ordinal));
    }
}
