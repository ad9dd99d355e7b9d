using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// The containers mode cannot run on a machine without a Docker engine, so its application model is checked
/// without starting it: resources, images, ports, volumes, parameters and every reference and wait, per environment.
/// </summary>
public sealed class AppHostModelTests
{
    public static TheoryData<string> Environments() => ["Development", "Stagging", "Production"];

    [Theory]
    [MemberData(nameof(Environments))]
    public async Task Containers_mode_declares_Postgres_and_RabbitMQ_with_ports_volumes_and_a_secret_password(string environment)
    {
        await using var builder = await CreateAsync(environment);

        var postgres = Single<ContainerResource>(builder, "postgres");
        var image = postgres.Annotations.OfType<ContainerImageAnnotation>().Single();
        Assert.EndsWith("postgres", image.Image);
        Assert.Equal(5432, Endpoint(postgres, "tcp").Port);
        Assert.Contains(postgres.Annotations.OfType<ContainerMountAnnotation>(), m => m.Type == ContainerMountType.Volume && m.Target.StartsWith("/var/lib/postgresql", StringComparison.Ordinal));
        Assert.True(Single<ParameterResource>(builder, "postgres-password").Secret);
        Assert.Equal("assistenteia", Single<PostgresDatabaseResource>(builder, "db").DatabaseName);

        var rabbit = Single<ContainerResource>(builder, "rabbitmq");
        var rabbitImage = rabbit.Annotations.OfType<ContainerImageAnnotation>().Single();
        Assert.EndsWith("rabbitmq", rabbitImage.Image);
        Assert.EndsWith("management", rabbitImage.Tag);
        Assert.Equal(5672, Endpoint(rabbit, "tcp").Port);
        Assert.Equal(15672, Endpoint(rabbit, "management").Port);
        Assert.Contains(rabbit.Annotations.OfType<ContainerMountAnnotation>(), m => m.Type == ContainerMountType.Volume && m.Target == "/var/lib/rabbitmq");
    }

    [Theory]
    [MemberData(nameof(Environments))]
    public async Task Every_service_references_and_waits_for_what_it_uses(string environment)
    {
        await using var builder = await CreateAsync(environment);

        foreach (var name in new[] { "api", "serviceb", "servicec" })
        {
            var project = Single<ProjectResource>(builder, name);
            var references = project.Annotations.OfType<ResourceRelationshipAnnotation>().Where(r => r.Type == "Reference").Select(r => r.Resource.Name).ToHashSet();
            var waits = project.Annotations.OfType<WaitAnnotation>().Select(w => w.Resource.Name).ToHashSet();
            Assert.Superset(new HashSet<string> { "db", "rabbitmq" }, references);
            Assert.Superset(new HashSet<string> { "db", "rabbitmq" }, waits);
            Assert.Contains(project.Annotations.OfType<HealthCheckAnnotation>(), h => h.Key.Contains("/health", StringComparison.Ordinal));

            // The API migrates the database: the workers start once it is healthy.
            if (name != "api")
            {
                Assert.Contains("api", waits);
            }
        }

        Assert.Equal(5080, Endpoint(Single<ProjectResource>(builder, "api"), "http").Port);
    }

    private static async Task<IDistributedApplicationTestingBuilder> CreateAsync(string environment) =>
        await DistributedApplicationTestingBuilder.CreateAsync<Projects.AssistenteIa_AppHost>(
            ["--Infrastructure:Mode=containers", $"--environment={environment}"],
            (_, settings) => settings.EnvironmentName = environment);

    private static T Single<T>(IDistributedApplicationTestingBuilder builder, string name)
        where T : IResource => builder.Resources.OfType<T>().Single(r => r.Name == name);

    private static EndpointAnnotation Endpoint(IResource resource, string name) =>
        resource.Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == name);
}
