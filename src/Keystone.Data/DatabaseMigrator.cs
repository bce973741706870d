using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Data;

/// <summary>
/// Applies the provider's migration set. In the embedded SQLite mode this runs at start-up; for
/// PostgreSQL it runs only when asked (<c>--migrate</c>), as the owner role, and then forces
/// row-level security on every tenant table and grants the application role its rights.
/// </summary>
public sealed class DatabaseMigrator(
    KeystoneDbFactory factory,
    KeystoneConnectionStrings connections,
    IOptions<DatabaseOptions> options,
    ILogger<DatabaseMigrator> log)
{
    public async Task MigrateAsync(CancellationToken ct)
    {
        if (factory.Provider == DatabaseProvider.Sqlite)
        {
            var file = connections.SqliteFile(options.Value);
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await using var db = factory.ForSystem();
            await db.Database.MigrateAsync(ct);
            // WAL lets the console read while the gateway's recorder writes.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
            await SqliteModel.EnsureFullTextAsync(db, ct);
            await Knowledge.KnowledgeModel.EnsureSqliteAsync(db, ct);
            log.LogInformation("SQLite database ready at {Path}", file);
            return;
        }

        var ownerConnection = connections.PostgresMigrator ?? connections.Postgres!;
        var builder = new DbContextOptionsBuilder();
        KeystoneDbFactory.ConfigurePostgres(builder, ownerConnection);
        await using var owner = new PostgresKeystoneDbContext(builder.Options, TenantScope.All);
        await owner.Database.MigrateAsync(ct);
        // Trace search's insert trigger (decision 0049): like RLS, kept out of the regenerated migration sets.
        await owner.Database.ExecuteSqlRawAsync(PostgresModel.SearchVectorTriggerSql, ct);
        await Knowledge.KnowledgeModel.EnsurePostgresAsync(owner, ct);
        var appRole = PostgresRowLevelSecurity.RoleOf(connections.Postgres!);
        var ownerRole = PostgresRowLevelSecurity.RoleOf(ownerConnection);
        await PostgresRowLevelSecurity.ApplyAsync(owner, appRole == ownerRole ? null : appRole, ct);
        log.LogInformation("PostgreSQL migrations applied; row-level security forced on {Count} tenant tables",
            PostgresRowLevelSecurity.TenantTables(owner).Count);
    }
}
