using AssistenteIa.Application.Tenants;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
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

    /// <summary>The advisory lock migrations are run under (any fixed number; "AsstIaMg" in ASCII).</summary>
    private const long MigrationLockKey = 0x4173_7374_4961_4D67;

    private static async Task CreateIfMissingAsync(AppDbContext db, CancellationToken cancellationToken)
    {
        var creator = db.GetService<Microsoft.EntityFrameworkCore.Storage.IRelationalDatabaseCreator>();
        if (await creator.ExistsAsync(cancellationToken))
        {
            return;
        }

        try
        {
            await creator.CreateAsync(cancellationToken);
        }
        catch (Npgsql.PostgresException ex) when (ex.SqlState == Npgsql.PostgresErrorCodes.DuplicateDatabase)
        {
            // Another instance created it first.
        }
    }

    public static async Task InitializeDatabaseAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var logger = scope.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DatabaseInitializer));
        var configuration = scope.ServiceProvider.GetRequiredService<IConfiguration>();

        // Several API instances may start together: they take turns, each migrating while it holds an advisory lock of
        // the database (on a connection of its own, closed after), so the next finds the migrations applied. Without
        // it they ran the same steps side by side and one died on a step the other had done. The database is created
        // first, since the lock lives in it. The retry stays for an instance of an older build, which takes no lock.
        await CreateIfMissingAsync(db, cancellationToken);
        var lockConnectionString = new Npgsql.NpgsqlConnectionStringBuilder(db.Database.GetConnectionString()) { Pooling = false }.ConnectionString;
        await using (var migrationLock = new Npgsql.NpgsqlConnection(lockConnectionString))
        {
            await migrationLock.OpenAsync(cancellationToken);
            await using (var take = new Npgsql.NpgsqlCommand("SELECT pg_advisory_lock(@key)", migrationLock))
            {
                take.Parameters.AddWithValue("key", MigrationLockKey);
                await take.ExecuteNonQueryAsync(cancellationToken);
            }

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
