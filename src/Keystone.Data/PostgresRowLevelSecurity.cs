using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keystone.Data;

/// <summary>
/// Forces row-level security on every tenant-owned table, derived from the model (every entity that is
/// <see cref="ITenantFiltered"/>), so a table added later is covered without anyone remembering to.
/// Run by the migrator as the owner after migrations; idempotent.
/// </summary>
public static class PostgresRowLevelSecurity
{
    /// <summary>The policy expression: all tenants explicitly on, or the row's tenant is the one set for this unit of work.</summary>
    public const string PolicyExpression =
        "current_setting('app.all_tenants', true) = 'on' OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid";

    /// <summary>The tables that carry forced row-level security.</summary>
    public static IReadOnlyList<string> TenantTables(DbContext db) => db.Model.GetEntityTypes()
        .Where(e => typeof(ITenantFiltered).IsAssignableFrom(e.ClrType))
        .Select(e => e.GetTableName()!)
        .Distinct()
        .Order(StringComparer.Ordinal)
        .ToList();

    /// <summary>Enables and forces RLS with the tenant policy on every tenant table, and grants the application role DML.</summary>
    public static async Task ApplyAsync(DbContext ownerDb, string? appRole, CancellationToken ct)
    {
        foreach (var table in TenantTables(ownerDb))
        {
            var t = Quote(table);
            var sql = $"""
                ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
                ALTER TABLE {t} FORCE ROW LEVEL SECURITY;
                DROP POLICY IF EXISTS tenant_isolation ON {t};
                CREATE POLICY tenant_isolation ON {t} USING ({PolicyExpression}) WITH CHECK ({PolicyExpression});
                """;
            await ownerDb.Database.ExecuteSqlRawAsync(sql, ct);
        }

        if (!string.IsNullOrWhiteSpace(appRole))
        {
            var r = Quote(appRole);
            // Identifiers cannot be parameters; both are quoted above and come from configuration, not users.
#pragma warning disable EF1002
            await ownerDb.Database.ExecuteSqlRawAsync($"""
                GRANT USAGE ON SCHEMA public TO {r};
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r};
                GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {r};
                """, ct);
#pragma warning restore EF1002
        }
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The user name of a connection string (the application role).</summary>
    public static string? RoleOf(string connectionString) => new NpgsqlConnectionStringBuilder(connectionString).Username;
}
