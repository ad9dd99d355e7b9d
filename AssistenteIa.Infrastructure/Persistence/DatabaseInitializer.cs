using AssistenteIa.Application.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AssistenteIa.Infrastructure.Persistence;

/// <summary>Applies migrations at start-up and, where configured, seeds the development tenants.</summary>
public static class DatabaseInitializer
{
    /// <summary>Duplicate database, column, table, object or history row: what a concurrent migration leaves behind.</summary>
    private static readonly string[] ConcurrentMigrationStates =
    [
        Npgsql.PostgresErrorCodes.DuplicateDatabase,
        Npgsql.PostgresErrorCodes.DuplicateColumn,
        Npgsql.PostgresErrorCodes.DuplicateTable,
        Npgsql.PostgresErrorCodes.DuplicateObject,
        Npgsql.PostgresErrorCodes.UniqueViolation,
    ];

    public static async Task InitializeDatabaseAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var logger = scope.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DatabaseInitializer));
        var configuration = scope.ServiceProvider.GetRequiredService<IConfiguration>();

        // Several API instances may start together: the one that loses a race (database created, a column or table
        // added by the other meanwhile) waits and migrates again, finding the other's work done.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await db.Database.MigrateAsync(cancellationToken);
                break;
            }
            catch (Npgsql.PostgresException ex) when (attempt < 10 && ConcurrentMigrationStates.Contains(ex.SqlState))
            {
                logger.LogInformation("Another instance is migrating the database ({SqlState}); migrating again shortly", ex.SqlState);
                db.ChangeTracker.Clear();
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }
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
