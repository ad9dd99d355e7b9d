using AssistenteIa.Application.Tenants;
using AssistenteIa.Infrastructure;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AssistenteIa.Tests.Integration;

/// <summary>API instances starting together on a database that does not exist yet each migrate it at start-up.</summary>
public sealed class MigrationRaceTests
{
    private const string Database = "assistenteia_migration_race";

    [Fact]
    public async Task Instances_migrating_a_new_database_at_once_all_start()
    {
        // Each round: a dropped database and four instances starting at the same moment. Before the migration lock,
        // the migrations ran side by side and one instance died on a step the other had done ("index does not exist").
        for (var round = 0; round < 3; round++)
        {
            await AppFixture.ResetDatabaseAsync(Database, CancellationToken.None);

            // The drop ended the previous round's pooled connections; handed out again they would fail with 57P01.
            Npgsql.NpgsqlConnection.ClearAllPools();
            var hosts = Enumerable.Range(0, 4).Select(_ => BuildHost()).ToList();
            try
            {
                using var gate = new SemaphoreSlim(0);
                var starts = hosts.Select(host => Task.Run(async () =>
                {
                    await gate.WaitAsync();
                    await host.Services.InitializeDatabaseAsync();
                })).ToList();
                gate.Release(hosts.Count);

                await Task.WhenAll(starts).WaitAsync(TimeSpan.FromMinutes(2));
            }
            finally
            {
                foreach (var host in hosts)
                {
                    host.Dispose();
                }
            }
        }

        await AppFixture.ResetDatabaseAsync(Database, CancellationToken.None);
    }

    private static IHost BuildHost()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Production" });
        builder.Configuration["ConnectionStrings:db"] = $"{AppFixture.PostgresServer};Database={Database}";
        builder.AddApplicationCore();

        // What the API registers besides, for the seeding after the migration.
        builder.Services.AddOptions<TenancyOptions>();
        builder.Services.AddSingleton<ApiKeyCache>();
        builder.Services.AddScoped<ApiKeyService>();
        return builder.Build();
    }
}
