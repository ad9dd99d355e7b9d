using System.Diagnostics;
using System.Net;

namespace AssistenteIa.Tests.Integration;

[Collection(AppCollection.Name)]
public sealed class ApiKeyCommandTests(AppFixture fixture)
{
    [Fact]
    public async Task The_apikeys_command_creates_a_tenant_key_that_authenticates_and_stores_only_its_hash()
    {
        var tenant = $"acme-{Guid.NewGuid():N}"[..20];
        var api = Path.Combine(new Projects.AssistenteIaApi().ProjectPath is var project ? Path.GetDirectoryName(project)! : "", "bin", BuildConfiguration(), "net10.0", "AssistenteIaApi.dll");
        var start = new ProcessStartInfo("dotnet", ["exec", api, "apikeys", "create", "--tenant", tenant, "--name", "Acme"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(api)!,
        };
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["ConnectionStrings__db"] = fixture.DatabaseConnectionString;
        start.Environment["ConnectionStrings__rabbitmq"] = fixture.BrokerUri;

        using var process = Process.Start(start)!;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var output = await process.StandardOutput.ReadToEndAsync(deadline.Token);
        var errors = await process.StandardError.ReadToEndAsync(deadline.Token);
        await process.WaitForExitAsync(deadline.Token);

        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {errors}");
        var key = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Last();
        Assert.StartsWith("aia_", key);
        Assert.Equal(0L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "ApiKeys" WHERE "KeyHash" = @p0""", key));
        Assert.Equal(1L, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "ApiKeys" WHERE "TenantId" = @p0""", tenant));

        using var client = fixture.CreateApiClient(key);
        using var response = await client.GetAsync("/api/v1/tasks");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("0", response.Headers.GetValues("X-Total-Count").Single());
    }

    /// <summary>The API was built with the same configuration as this test assembly (…/bin/{Debug|Release}/net10.0/).</summary>
    private static string BuildConfiguration() =>
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
}
