using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Caching;

/// <summary>The semantic cache's lookup on PostgreSQL: pgvector orders the context's entries by cosine distance in the database.</summary>
internal sealed class PostgresSemanticCache(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
    : SemanticCache(dbFactory, options, clock)
{
    protected override async Task<Candidate?> FindClosestAsync(Guid tenantId, string contextKey, float[] vector, DateTime now, CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(tenantId);
        // Exact, not an index scan: a context holds few entries. Column names are snake_case, as the model's naming
        // convention maps Candidate's properties.
        var query = new Pgvector.Vector(vector);
        return await db.Database.SqlQuery<Candidate>($"""
            SELECT response_json, cost_micros, source_call_id, provider, model, 1 - (embedding <=> {query}) AS similarity
            FROM semantic_cache_entries
            WHERE tenant_id = {tenantId} AND context_key = {contextKey} AND expires_utc > {now}
            ORDER BY embedding <=> {query}
            LIMIT 1
            """).FirstOrDefaultAsync(ct);
    }
}
