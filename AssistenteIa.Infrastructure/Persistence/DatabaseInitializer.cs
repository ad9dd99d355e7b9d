using AssistenteIa.Application.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Infrastructure.Persistence;

/// <summary>Applies migrations at start-up and, where configured, seeds the development tenants.</summary>
public static class DatabaseInitializer
{
    public static async Task InitializeDatabaseAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var logger = scope.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DatabaseInitializer));
        var configuration = scope.ServiceProvider.GetRequiredService<IConfiguration>();

        try
        {
            await db.Database.MigrateAsync(cancellationToken);
        }
        catch (Npgsql.PostgresException ex) when (ex.SqlState == Npgsql.PostgresErrorCodes.DuplicateDatabase)
        {
            // Another instance starting at the same time created the database first; migrations themselves take a lock.
            logger.LogInformation("The database was created by another instance meanwhile; migrating it");
            await db.Database.MigrateAsync(cancellationToken);
        }

        logger.LogInformation("Database migrated");

        // Tenancy:SeedKeys:{tenant} = {key}; set in appsettings.Development.json only.
        var keyService = scope.ServiceProvider.GetRequiredService<ApiKeyService>();
        foreach (var seed in configuration.GetSection("Tenancy:SeedKeys").GetChildren())
        {
            if (!string.IsNullOrWhiteSpace(seed.Value))
            {
                await keyService.EnsureKeyAsync(seed.Key, seed.Value, cancellationToken);
                logger.LogInformation("Seeded API key for tenant {TenantId}", seed.Key);
            }
        }
    }
}
