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

        var parameters = new List<NpgsqlParameter>
        {
            new("q", new Pgvector.Vector(query.Vector)), new("tenant", query.TenantId), new("model", query.Model), new("limit", query.Limit),
        };
        string sql;
        string order;
        var ef = EfSearch;
        if (query.Table == VectorTable.SemanticCache)
        {
            AddCacheParameters(parameters, query);
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

        var rows = await SearchAsync(query.TenantId, ef, order, sql, parameters,
            r => new VectorMatch(r.GetInt64(0), r.GetGuid(1), r.GetDouble(2)), ct);
        // Relaxed order may return neighbours slightly out of order: sort by the exact similarity computed alongside.
        return [.. rows.OrderByDescending(r => r.Similarity)];
    }

    /// <summary>
    /// The cache's closest live entry with its answer in the same query (<see cref="CacheEntrySql"/>): one round trip and
    /// one snapshot, so the answer is the winner's as the search saw it — never an entry deleted between a search and a
    /// second read (which SQLite's in-memory search needs, and which cost a second pooled connection here: the lookup's
    /// p99 tail).
    /// </summary>
    public override async Task<CacheEntryMatch?> NearestCacheEntryAsync(VectorQuery query, double threshold, CancellationToken ct)
    {
        var n = query.Vector.Length;
        if (n == 0)
        {
            return null;
        }

        var parameters = new List<NpgsqlParameter>
        {
            new("q", new Pgvector.Vector(query.Vector)), new("tenant", query.TenantId), new("model", query.Model), new("threshold", threshold),
        };
        AddCacheParameters(parameters, query);
        var rows = await SearchAsync(query.TenantId, CacheEfSearch, "strict_order", CacheEntrySql(n), parameters, r => new CacheEntryMatch(
            r.GetInt64(0), r.GetDouble(1), r.IsDBNull(2) ? null : new CacheEntryAnswer(r.GetString(2), r.GetInt64(3),
                r.IsDBNull(4) ? null : r.GetGuid(4), r.IsDBNull(5) ? null : r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6))), ct);
        return rows is [var best] ? best : null;
    }

    private static void AddCacheParameters(List<NpgsqlParameter> parameters, VectorQuery query)
    {
        parameters.Add(new NpgsqlParameter("context", query.ContextKey ?? throw new ArgumentException("A semantic-cache search needs its context key.", nameof(query))));
        parameters.Add(new NpgsqlParameter("now", query.LiveAt ?? DateTime.UtcNow));
    }

    /// <summary>
    /// Runs <paramref name="sql"/> for one tenant with the walk's settings, in one round trip: one batch of two statements
    /// in one implicit transaction (one Sync), the first setting the tenant and the walk's settings transaction-locally
    /// (<c>set_config(…, true)</c>, as <c>SET LOCAL</c>), the second searching. Before, the settings, the search and the
    /// transaction's BEGIN and COMMIT were four round trips plus the two of EF's tenant interceptor (set on open, cleared
    /// on close). The context's own connection is opened here, not by EF, so the interceptor does not run: nothing is set
    /// for the session, and everything set ends with the batch's transaction (also when it fails), so a pooled
    /// connection carries no tenant on. The policy reads exactly the setting the interceptor writes.
    /// </summary>
    internal async Task<List<T>> SearchAsync<T>(Guid tenantId, int ef, string order, string sql, List<NpgsqlParameter> parameters,
        Func<NpgsqlDataReader, T> read, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        // The context's connection comes from its data source, which maps pgvector's type.
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await connection.OpenAsync(ct);
        try
        {
            await using var batch = new NpgsqlBatch(connection);
            // ef is a constant of this class and order one of two constants: written into the text, not user input.
            var settings = new NpgsqlBatchCommand(
                $"SELECT set_config('app.tenant_id', @tenant, true), set_config('app.all_tenants', 'off', true), set_config('hnsw.ef_search', '{ef}', true), set_config('hnsw.iterative_scan', '{order}', true)");
            settings.Parameters.Add(new NpgsqlParameter("tenant", tenantId.ToString()));
            var search = new NpgsqlBatchCommand(sql);
            search.Parameters.AddRange(parameters.ToArray());
            batch.BatchCommands.Add(settings);
            batch.BatchCommands.Add(search);
            await using var reader = await batch.ExecuteReaderAsync(ct);
            // Past the settings' one row to the search's rows.
            await reader.NextResultAsync(ct);
            var rows = new List<T>();
            while (await reader.ReadAsync(ct))
            {
                rows.Add(read(reader));
            }

            return rows;
        }
        finally
        {
            await connection.CloseAsync();
        }
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

    /// <summary>
    /// The cache's one closest live entry with its answer (parameters as <see cref="CacheSql"/> without @limit, and
    /// @threshold): the answer's columns are read only when the similarity reaches the threshold, so a miss carries no
    /// response text. The walk is the same as <see cref="CacheSql"/>'s (the same index, order and filter).
    /// </summary>
    internal static string CacheEntrySql(int n)
    {
        var distance = SemanticCacheEntry.IndexedDimensions.Contains(n)
            ? $"embedding::vector({n}) <=> @q::vector({n})"
            : "embedding <=> @q";
        return $"""
            SELECT id, similarity, CASE WHEN similarity >= @threshold THEN response_json END, cost_micros, source_call_id, provider, model
            FROM (
              SELECT id, 1 - ({distance}) AS similarity, response_json, cost_micros, source_call_id, provider, model
              FROM semantic_cache_entries
              WHERE vector_dims(embedding) = {n} AND tenant_id = @tenant AND context_key = @context AND embedding_model = @model
                AND expires_utc > @now
              ORDER BY {distance}
              LIMIT 1
            ) best
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
}
