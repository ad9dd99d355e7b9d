using Aspire.Hosting.Testing;

namespace AssistenteIa.Tests.Integration;

/// <summary>How the AppHost reacts to configuration, checked without starting anything.</summary>
public sealed class AppHostConfigurationTests
{
    [Theory]
    [InlineData("Stagging")]
    [InlineData("Production")]
    public async Task External_mode_outside_Development_refuses_to_start_without_connection_strings(string environment)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AssistenteIa_AppHost>(
                ["--Infrastructure:Mode=external", $"--environment={environment}"],
                (_, settings) => settings.EnvironmentName = environment);
        });

        var message = Flatten(error);
        Assert.Contains("ConnectionStrings:db is not set", message);
        Assert.Contains(environment, message);
    }

    [Fact]
    public async Task Development_external_mode_falls_back_to_the_seed_connection_strings()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AssistenteIa_AppHost>(
            ["--Infrastructure:Mode=external"],
            (_, settings) => settings.EnvironmentName = "Development");

        Assert.Equal(
            "Host=localhost;Port=5432;Database=postgres;Username=postgres;Password=007182",
            builder.Configuration["ConnectionStrings:db"]);
        Assert.Equal("amqp://guest:guest@localhost:5672/", builder.Configuration["ConnectionStrings:rabbitmq"]);
    }

    [Fact]
    public async Task An_unknown_infrastructure_mode_is_refused()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AssistenteIa_AppHost>(["--Infrastructure:Mode=cloud"]);
        });

        Assert.Contains("Infrastructure:Mode must be", Flatten(error));
    }

    private static string Flatten(Exception error) =>
        error is AggregateException aggregate ? string.Join(" | ", aggregate.Flatten().InnerExceptions.Select(e => e.Message)) : error.ToString();
}
