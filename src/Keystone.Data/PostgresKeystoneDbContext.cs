using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>
/// The scaled-mode model (PostgreSQL + pgvector), with its own migration set under
/// <c>Migrations/Postgres</c>. Row-level security is applied by <see cref="PostgresRowLevelSecurity"/>
/// and the tenant is set per connection lease by <see cref="PostgresTenantInterceptor"/>.
/// </summary>
public sealed class PostgresKeystoneDbContext(DbContextOptions options, TenantScope scope)
    : KeystoneDbContext(options, scope)
{
    protected override void OnModelCreating(ModelBuilder builder)
    {
        builder.HasPostgresExtension("vector");
        base.OnModelCreating(builder);
        PostgresModel.Apply(builder);
    }

    /// <inheritdoc />
    public override IQueryable<Guid> TraceIdsMatching(IReadOnlyList<string> words, DateTime? fromUtc = null, DateTime? toUtc = null,
        Guid? tenantId = null, string? feature = null)
    {
        // The tenant and feature are left to the calls query (row-level security and its indexes handle them).
        var query = FullTextQuery.ToPlainTsQuery(words);
        // The row-level-security policy on llm_traces applies to this subquery like to any other.
        return (fromUtc, toUtc) switch
        {
            ({ } from, { } to) => Database.SqlQuery<Guid>(
                $"SELECT call_id AS \"Value\" FROM llm_traces WHERE search_vector @@ plainto_tsquery('english', {query}) AND created_utc >= {from} AND created_utc < {to}"),
            ({ } from, null) => Database.SqlQuery<Guid>(
                $"SELECT call_id AS \"Value\" FROM llm_traces WHERE search_vector @@ plainto_tsquery('english', {query}) AND created_utc >= {from}"),
            (null, { } to) => Database.SqlQuery<Guid>(
                $"SELECT call_id AS \"Value\" FROM llm_traces WHERE search_vector @@ plainto_tsquery('english', {query}) AND created_utc < {to}"),
            _ => Database.SqlQuery<Guid>(
                $"SELECT call_id AS \"Value\" FROM llm_traces WHERE search_vector @@ plainto_tsquery('english', {query})"),
        };
    }
}
