using Keystone.Data.Caching;
using Keystone.Data.Knowledge;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keystone.Data.Vectors;

/// <summary>
/// PostgreSQL: pgvector orders the tenant's rows by cosine distance in the database. Vectors of a length with an HNSW
/// index (<see cref="SemanticCacheEntry.IndexedDimensions"/>, <see cref="KnowledgeModel.IndexedDimensions"/>) are
/// searched through it; other lengths are compared exactly.
/// </summary>
/// <remarks>
/// HNSW needs a fixed dimension and each column holds vectors of any model, so the migrations build one partial index
/// per length over <c>column::vector(n)</c> for the rows of that length. The queries repeat the cast and the predicate
/// with <c>n</c> written into the SQL (a parameter would not let the planner match the partial index; <c>n</c> comes
/// from those lists, never from a caller). An index spans every tenant: pgvector 0.8's iterative scan keeps walking
/// the graph while rows are filtered out (tenant, context, model, expiry, documents and row-level security) instead
/// of returning too few; the semantic cache walks in strict order (its one best match), knowledge in relaxed order
/// (its candidates are re-sorted here and fused by rank). An approximate search may miss the very closest row; it
/// never returns another tenant's.
/// </remarks>
internal sealed class PostgresVectorSearch(KeystoneDbFactory dbFactory) : VectorSearch
{
    /// <summary>
    /// Candidates each knowledge walk keeps: it returns up to 50 candidates for fusion from a filtered walk (tenant,
    /// model, documents), so more than pgvector's default of 40.
    /// </summary>
    internal const int EfSearch = 100;

    /// <summary>
    /// Candidates the semantic cache's walk keeps: pgvector's default. The cache wants one row, and a hit is a near
    /// repeat (similarity at or above the threshold), which a short walk finds; strict-order iterative scan keeps
    /// walking when the filter (tenant, context, model, expiry) removes the rows it found. 40 instead of 100 halved the
    /// index's work (1,950 instead of 3,350 buffer reads, 1.1 instead of 2.3 ms at 20,000 rows).
    /// </summary>
    internal const int CacheEfSearch = 40;

    public override async Task<IReadOnlyList<VectorMatch>> NearestAsync(VectorQuery query, CancellationToken ct)
    {
        var n = query.Vector.Length;
        if (n == 0 || query.Limit < 1 || query.Documents is { Count: 0 })
        {
            return [];
        }

        var parameters = new List<object>
        {
            new NpgsqlParameter("q", new Pgvector.Vector(query.Vector)), new NpgsqlParameter("tenant", query.TenantId),
            new NpgsqlParameter("model", query.Model), new NpgsqlParameter("limit", query.Limit),
        };
        string sql;
        string order;
        var ef = EfSearch;
        if (query.Table == VectorTable.SemanticCache)
        {
            parameters.Add(new NpgsqlParameter("context", query.ContextKey ?? throw new ArgumentException("A semantic-cache search needs its context key.", nameof(query))));
            parameters.Add(new NpgsqlParameter("now", query.LiveAt ?? DateTime.UtcNow));
            sql = CacheSql(n);
            order = "strict_order";
            ef = CacheEfSearch;
        }
        else
        {
            if (query.Documents is { } documents)
            {
                parameters.Add(new NpgsqlParameter("docs", documents.ToArray()));
            }

            sql = KnowledgeSql(n, query.Documents is not null);
            order = "relaxed_order";
        }

        await using var db = dbFactory.ForTenant(query.TenantId);
        // SET LOCAL needs a transaction; it keeps the search settings to this query on a pooled connection.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
#pragma warning disable EF1002 // n is a vector length (an integer), the order a constant; every value is a parameter
        await db.Database.ExecuteSqlRawAsync($"SELECT set_config('hnsw.ef_search', '{ef}', true), set_config('hnsw.iterative_scan', '{order}', true)", ct);
        var rows = await db.Database.SqlQueryRaw<Row>(sql, [.. parameters]).ToListAsync(ct);
#pragma warning restore EF1002
        await tx.CommitAsync(ct);
        // Relaxed order may return neighbours slightly out of order: sort by the exact similarity computed alongside.
        return [.. rows.OrderByDescending(r => r.Similarity).Select(r => new VectorMatch(r.RowId, r.ChunkId, r.Similarity))];
    }

    /// <summary>The cache's search for vectors of length <paramref name="n"/> (parameters @q, @tenant, @context, @model, @now, @limit).</summary>
    internal static string CacheSql(int n)
    {
        var distance = SemanticCacheEntry.IndexedDimensions.Contains(n)
            ? $"embedding::vector({n}) <=> @q::vector({n})"
            : "embedding <=> @q";
        return $"""
            SELECT id AS row_id, '00000000-0000-0000-0000-000000000000'::uuid AS chunk_id, 1 - ({distance}) AS similarity
            FROM semantic_cache_entries
            WHERE vector_dims(embedding) = {n} AND tenant_id = @tenant AND context_key = @context AND embedding_model = @model
              AND expires_utc > @now
            ORDER BY {distance}
            LIMIT @limit
            """;
    }

    /// <summary>Knowledge's search for vectors of length <paramref name="n"/> (parameters @q, @tenant, @model, @limit, and @docs when filtered).</summary>
    internal static string KnowledgeSql(int n, bool documents)
    {
        var distance = KnowledgeModel.IndexedDimensions.Contains(n)
            ? $"vector::vector({n}) <=> @q::vector({n})"
            : "vector <=> @q";
        return $"""
            SELECT 0::bigint AS row_id, chunk_id, 1 - ({distance}) AS similarity
            FROM knowledge_embeddings
            WHERE tenant_id = @tenant AND model = @model AND dimensions = {n}{(documents ? " AND document_id = ANY(@docs)" : "")}
            ORDER BY {distance}
            LIMIT @limit
            """;
    }

    /// <summary>Column names are snake_case, as the model's naming convention maps the properties.</summary>
    private sealed record Row(long RowId, Guid ChunkId, double Similarity);
}
