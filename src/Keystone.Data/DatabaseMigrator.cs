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
        await EnsureFullTextLeakproofAsync(owner, ct);
        log.LogInformation("PostgreSQL migrations applied; row-level security forced on {Count} tenant tables",
            PostgresRowLevelSecurity.TenantTables(owner).Count);
    }

    /// <summary>The full-text match function (<c>tsvector @@ tsquery</c>) that must be LEAKPROOF for a GIN index to serve it under RLS.</summary>
    public const string FullTextMatchFunction = "pg_catalog.ts_match_vq(tsvector, tsquery)";

    /// <summary>Marks <see cref="FullTextMatchFunction"/> LEAKPROOF in the connected database (a superuser only; decision 0055).</summary>
    public const string MarkFullTextLeakproofSql = "ALTER FUNCTION " + FullTextMatchFunction + " LEAKPROOF";

    /// <summary>
    /// Under forced row-level security PostgreSQL evaluates the tenant policy before any condition whose function is not
    /// LEAKPROOF, so a GIN index cannot serve <c>@@</c> unless <see cref="FullTextMatchFunction"/> is marked (decision 0055):
    /// knowledge's text half and trace search then read every row of the tenant. Marking needs a superuser, which
    /// <c>scripts/postgres-setup.sql</c> runs as; the owner role <c>--migrate</c> runs as is not one, so it only checks
    /// and warns (search still works, slower). When this connection is a superuser (a development database) it marks
    /// the function itself. Idempotent: nothing changes when the mark is there.
    /// </summary>
    private async Task EnsureFullTextLeakproofAsync(DbContext owner, CancellationToken ct)
    {
        var state = await owner.Database.SqlQueryRaw<LeakproofState>(LeakproofStateSql).SingleAsync(ct);
        if (state.Leakproof)
        {
            return;
        }

        if (state.Superuser)
        {
            await owner.Database.ExecuteSqlRawAsync(MarkFullTextLeakproofSql, ct);
            log.LogInformation("Marked {Function} LEAKPROOF so full-text search can use its GIN indexes under row-level security",
                FullTextMatchFunction);
            return;
        }

        log.LogWarning(
            "{Function} is not LEAKPROOF in this database: under row-level security knowledge and trace search cannot use their " +
            "full-text (GIN) indexes and read every row of the tenant instead (slow on large tables). Run the step of " +
            "scripts/postgres-setup.sql that marks it, as a superuser, in this database: {Sql};", FullTextMatchFunction, MarkFullTextLeakproofSql);
    }

    private const string LeakproofStateSql = "SELECT p.proleakproof AS leakproof, r.rolsuper AS superuser FROM pg_proc p, pg_roles r WHERE p.oid = '"
        + FullTextMatchFunction + "'::regprocedure AND r.rolname = current_user";

    /// <summary>The check's row (column names as the query writes them).</summary>
    private sealed record LeakproofState(bool Leakproof, bool Superuser);
}
