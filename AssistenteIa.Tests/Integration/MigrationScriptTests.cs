using System.Diagnostics;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// An operator who applies schema changes by hand runs the script <c>dotnet ef migrations script</c> writes with
/// <c>psql</c>, instead of letting the API migrate at start. That script must run as written and build the schema the
/// services' own migration builds: the raw SQL of a migration is sent alone by <c>MigrateAsync</c>, but the script
/// joins it to the next statement (a missing semicolon passed one run and broke the other).
/// </summary>
public sealed class MigrationScriptTests
{
    private static readonly string Migrated = "assistenteia_script_migrated" + AppFixture.InstanceSuffix;
    private static readonly string Scripted = "assistenteia_script_applied" + AppFixture.InstanceSuffix;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_migrations_script_builds_the_schema_the_services_migrate_to(bool idempotent)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await AppFixture.ResetDatabaseAsync(Migrated, deadline.Token);
        await AppFixture.ResetDatabaseAsync(Scripted, deadline.Token);
        string script;
        await using (var migrated = CreateDbContext(Migrated))
        {
            NpgsqlConnection.ClearPool((NpgsqlConnection)migrated.Database.GetDbConnection());
            await migrated.Database.MigrateAsync(deadline.Token);
            script = migrated.GetService<IMigrator>().GenerateScript(options: idempotent ? MigrationsSqlGenerationOptions.Idempotent : MigrationsSqlGenerationOptions.Default);
        }

        if (idempotent)
        {
            // An operator's usual case: a database some migrations behind (here, before the one whose SQL was broken).
            await using var behind = CreateDbContext(Scripted);
            NpgsqlConnection.ClearPool((NpgsqlConnection)behind.Database.GetDbConnection());
            var migrations = behind.Database.GetMigrations().ToList();
            var target = migrations[migrations.FindIndex(m => m.EndsWith("_TaskEventListeners", StringComparison.Ordinal)) - 1];
            await behind.GetService<IMigrator>().MigrateAsync(target, deadline.Token);
        }
        else
        {
            await Sql.ExecuteAsync($"{AppFixture.PostgresServer};Database=postgres", $"CREATE DATABASE {Scripted}");
        }

        var file = Path.Combine(Path.GetTempPath(), $"assistenteia-migrations-{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(file, script, deadline.Token);
        try
        {
            await RunPsqlAsync(file, deadline.Token);
            if (idempotent)
            {
                // Run again on the database it brought up to date, it changes nothing.
                await RunPsqlAsync(file, deadline.Token);
            }
        }
        finally
        {
            File.Delete(file);
        }

        var expected = await SchemaOfAsync(Migrated, deadline.Token);
        var actual = await SchemaOfAsync(Scripted, deadline.Token);
        Assert.Contains(expected, line => line.Contains("OutboxMessages_TaskEventDemand", StringComparison.Ordinal));
        Assert.Equal(expected, actual);
    }

    private static AppDbContext CreateDbContext(string database) =>
        new(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql($"{AppFixture.PostgresServer};Database={database}").Options);

    /// <summary><c>psql</c> as an operator runs it: stop at the first error, one session for the whole file.</summary>
    private static async Task RunPsqlAsync(string file, CancellationToken cancellationToken)
    {
        var server = new NpgsqlConnectionStringBuilder(AppFixture.PostgresServer);
        var start = new ProcessStartInfo("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", server.Host!, "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", server.Username!, "-d", Scripted, "-f", file])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PGPASSWORD"] = server.Password;
        using var process = Process.Start(start)!;
        using var kill = cancellationToken.Register(() => process.Kill(entireProcessTree: true));
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.StandardOutput.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        Assert.True(process.ExitCode == 0, $"psql failed on the migrations script: {await errors}");
    }

    /// <summary>
    /// Every column, constraint, index, trigger and function of the public schema, and the migrations recorded, one
    /// line each. A function's body is compared without its layout: the idempotent script indents it.
    /// </summary>
    private static async Task<List<string>> SchemaOfAsync(string database, CancellationToken cancellationToken)
    {
        const string query = """
            SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') || ' ' || coalesce(character_maximum_length::text, '')
            FROM information_schema.columns WHERE table_schema = 'public'
            UNION ALL
            SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
            FROM pg_constraint WHERE connamespace = 'public'::regnamespace
            UNION ALL
            SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
            UNION ALL
            SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
            UNION ALL
            SELECT 'function ' || proname || ' ' || md5(btrim(regexp_replace(prosrc, '\s+', ' ', 'g'))) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
            UNION ALL
            SELECT 'migration ' || "MigrationId" FROM "__EFMigrationsHistory"
            UNION ALL
            SELECT 'row ' || "Name" FROM "EventListeners"
            ORDER BY 1
            """;
        await using var connection = new NpgsqlConnection($"{AppFixture.PostgresServer};Database={database};Pooling=false");
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(query, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var lines = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            lines.Add(reader.GetString(0));
        }

        return lines;
    }
}
