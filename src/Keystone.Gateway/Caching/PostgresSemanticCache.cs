using Keystone.Data;
using Keystone.Data.Caching;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Keystone.Gateway.Caching;

/// <summary>
/// The semantic cache's lookup on PostgreSQL: pgvector orders the context's entries by cosine distance in the database.
/// Vectors of a length with an HNSW index (<see cref="SemanticCacheEntry.IndexedDimensions"/>) are searched through
/// it; others are compared exactly.
/// </summary>
/// <remarks>
/// HNSW needs a fixed dimension, and the column holds vectors of any model, so the migration builds one partial index
/// per length over <c>embedding::vector(n)</c> <c>WHERE vector_dims(embedding) = n</c>. The query repeats both
/// expressions with <c>n</c> written into the SQL (a parameter would not let the planner match the partial index's
/// predicate; <c>n</c> comes from the list above, never from a caller). The index spans every tenant and context: with
/// pgvector 0.8's iterative scan in strict order, the walk goes on until it finds a row that passes the tenant,
/// context and model filters (and row-level security) instead of returning nothing when the nearest neighbours belong
/// to others; a context that holds few entries is served by the (tenant, context) b-tree, which the planner prefers
/// when the filter is selective. An approximate nearest neighbour may miss the very closest entry: the lookup then
/// answers from the next closest above the threshold, or misses (the model answers), never from another tenant.
/// </remarks>
internal sealed class PostgresSemanticCache(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
    : SemanticCache(dbFactory, options, clock)
{
    /// <summary>Candidates each HNSW walk keeps (pgvector's default is 40; a filtered walk needs more to find a match).</summary>
    internal const int EfSearch = 100;

    protected override async Task<Candidate?> FindClosestAsync(Guid tenantId, string contextKey, string embeddingModel, float[] vector, DateTime now,
        CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(tenantId);
        var query = new Pgvector.Vector(vector);
        var parameters = new object[]
        {
            new NpgsqlParameter("q", query), new NpgsqlParameter("tenant", tenantId), new NpgsqlParameter("context", contextKey),
            new NpgsqlParameter("model", embeddingModel), new NpgsqlParameter("now", now),
        };
        if (!SemanticCacheEntry.IndexedDimensions.Contains(vector.Length))
        {
            // Exact: no index for this length. Column names are snake_case, as the model's naming convention maps Candidate's properties.
            return await db.Database.SqlQueryRaw<Candidate>("""
                SELECT response_json, cost_micros, source_call_id, provider, model, 1 - (embedding <=> @q) AS similarity
                FROM semantic_cache_entries
                WHERE tenant_id = @tenant AND context_key = @context AND embedding_model = @model AND expires_utc > @now
                ORDER BY embedding <=> @q
                LIMIT 1
                """, parameters).FirstOrDefaultAsync(ct);
        }

        var n = vector.Length;
        // SET LOCAL needs a transaction; it keeps the search settings to this lookup on a pooled connection.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.Database.ExecuteSqlRawAsync(
            $"SELECT set_config('hnsw.ef_search', '{EfSearch}', true), set_config('hnsw.iterative_scan', 'strict_order', true)", ct);
#pragma warning disable EF1002 // n is one of SemanticCacheEntry.IndexedDimensions (checked above), not input.
        var found = await db.Database.SqlQueryRaw<Candidate>(IndexedLookupSql(n), parameters).FirstOrDefaultAsync(ct);
#pragma warning restore EF1002
        await tx.CommitAsync(ct);
        return found;
    }

    /// <summary>The lookup for vectors of length <paramref name="n"/>, which has an HNSW index (parameters @q, @tenant, @context, @model, @now).</summary>
    internal static string IndexedLookupSql(int n) => $"""
        SELECT response_json, cost_micros, source_call_id, provider, model, 1 - (embedding::vector({n}) <=> @q::vector({n})) AS similarity
        FROM semantic_cache_entries
        WHERE vector_dims(embedding) = {n} AND tenant_id = @tenant AND context_key = @context AND embedding_model = @model
          AND expires_utc > @now
        ORDER BY embedding::vector({n}) <=> @q::vector({n})
        LIMIT 1
        """;
}
