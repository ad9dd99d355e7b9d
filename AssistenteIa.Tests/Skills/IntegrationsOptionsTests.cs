using System.ComponentModel.DataAnnotations;
using AssistenteIaApi.ServiceB.Worker;
using AssistenteIaApi.ServiceB.Worker.Skills.Integration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

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

    [Fact]
    public void A_secrets_lists_written_as_one_value_bind_as_lists_and_a_tenant_list_left_out_would_not_make_it_everyones()
    {
        var options = Registered(
            ("Integrations:Secrets:partner:Value", "v"),
            ("Integrations:Secrets:partner:AllowedHosts", "api.partner.com, *.partner.net"),
            ("Integrations:Secrets:partner:Tenants", "tenant-a,tenant-b"),
            ("Integrations:Secrets:partner:AllowedPorts", "443"));

        var secret = options.Secret("partner")!;
        Assert.Equal(["api.partner.com", "*.partner.net"], secret.AllowedHosts);
        Assert.Equal(["tenant-a", "tenant-b"], secret.Tenants);
        Assert.False(secret.AllowsTenant("tenant-c"));
        Assert.Equal([443], secret.AllowedPorts);
    }

    [Theory]
    [InlineData("Integrations:Secrets:partner:AllowedPorts", "443;8443", "is not a list of ports")]
    [InlineData("Integrations:Secrets:partner:AllowedPorts", "0", "is not a list of ports")]
    [InlineData("Integrations:Secrets:partner:Tenants", "tenant-a", "both as a list and as one value")]
    public void A_secrets_list_that_cannot_be_read_stops_the_start(string key, string value, string problem)
    {
        var refused = Assert.Throws<OptionsValidationException>(() => Registered(
            ("Integrations:Secrets:partner:Value", "v"),
            ("Integrations:Secrets:partner:AllowedHosts:0", "api.partner.com"),
            ("Integrations:Secrets:partner:Tenants:0", "tenant-b"),
            (key, value)));

        Assert.Contains(problem, refused.Message);
    }

    /// <summary>The options as ServiceB registers them (<see cref="ExecutionRegistration.AddSkills"/>), validated as at its start.</summary>
    private static IntegrationsOptions Registered(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)));
        builder.AddSkills();
        using var services = builder.Services.BuildServiceProvider();
        services.GetRequiredService<IStartupValidator>().Validate();
        return services.GetRequiredService<IOptions<IntegrationsOptions>>().Value;
    }
}
