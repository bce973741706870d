using System.Text;
using Keystone.Data;
using Keystone.Data.Knowledge;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// PostgreSQL: <c>ts_rank_cd</c> over the chunks' generated tsvector (GIN), and pgvector's cosine distance through the
/// HNSW index of the vector's dimension (a partial expression index per dimension, <see cref="KnowledgeModel.IndexedDimensions"/>;
/// other dimensions are scanned exactly). Forced row-level security holds both to the tenant set on the connection;
/// the queries name the tenant too. Iterative index scans (pgvector 0.8) keep reading the graph while rows are
/// filtered out by the model, the tenant or the filters, so a filtered search still fills its top k.
/// </summary>
internal sealed class PostgresKnowledgeSearch(KeystoneDbFactory dbFactory) : IKnowledgeSearch
{
    public async Task<IReadOnlyList<Guid>> TextAsync(Guid tenantId, IReadOnlyList<string> words, RetrievalFilter filter, int limit, CancellationToken ct)
    {
        if (words.Count == 0)
        {
            return [];
        }

        // Letters and digits only: safe as to_tsquery operands; OR, so any matching word makes a candidate and ranking sorts them.
        var parameters = new List<object>
        {
            new NpgsqlParameter("query", string.Join(" | ", words)), new NpgsqlParameter("tenant", tenantId), new NpgsqlParameter("limit", limit),
        };
        var sql = new StringBuilder("""
            SELECT c.id AS "Value" FROM knowledge_chunks c
            JOIN knowledge_documents d ON d.id = c.document_id
            CROSS JOIN to_tsquery('english', @query) q
            WHERE c.search_vector @@ q AND c.tenant_id = @tenant
            """);
        AppendFilter(sql, parameters, filter, "c.document_id");
        sql.Append(" ORDER BY ts_rank_cd(c.search_vector, q) DESC, c.id LIMIT @limit");
        await using var db = dbFactory.ForTenant(tenantId);
#pragma warning disable EF1002 // fixed SQL text; every value is a parameter
        return await db.Database.SqlQueryRaw<Guid>(sql.ToString(), [.. parameters]).ToListAsync(ct);
#pragma warning restore EF1002
    }

    public async Task<IReadOnlyList<Guid>> VectorAsync(Guid tenantId, string model, float[] vector, RetrievalFilter filter, int limit, CancellationToken ct)
    {
        var dims = vector.Length;
        var indexed = KnowledgeModel.IndexedDimensions.Contains(dims);
        // The partial index matches only when the query repeats its predicate and expression with the literal dimension
        // (an integer from our own list, never input).
        var distance = indexed ? $"(e.vector::vector({dims})) <=> @vector::vector({dims})" : "e.vector <=> @vector";
        var parameters = new List<object>
        {
            new NpgsqlParameter("vector", new Pgvector.Vector(vector)), new NpgsqlParameter("tenant", tenantId),
            new NpgsqlParameter("model", model), new NpgsqlParameter("limit", limit),
        };
        var sql = new StringBuilder($"""
            SELECT e.chunk_id AS "Value" FROM knowledge_embeddings e
            JOIN knowledge_documents d ON d.id = e.document_id
            WHERE e.tenant_id = @tenant AND e.model = @model AND e.dimensions = {dims}
            """);
        AppendFilter(sql, parameters, filter, "e.document_id");
        sql.Append(" ORDER BY ").Append(distance).Append(" LIMIT @limit");
        await using var db = dbFactory.ForTenant(tenantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.Database.ExecuteSqlRawAsync("SELECT set_config('hnsw.ef_search', '100', true), set_config('hnsw.iterative_scan', 'relaxed_order', true)", ct);
#pragma warning disable EF1002 // fixed SQL text and an integer from our list; every value is a parameter
        var ids = await db.Database.SqlQueryRaw<Guid>(sql.ToString(), [.. parameters]).ToListAsync(ct);
#pragma warning restore EF1002
        await tx.CommitAsync(ct);
        return ids;
    }

    /// <summary>The SQL of <see cref="VectorAsync"/> for <c>EXPLAIN</c> in tests (which index the planner takes).</summary>
    internal static string VectorSqlFor(int dims) => $"""
        SELECT e.chunk_id FROM knowledge_embeddings e
        WHERE e.tenant_id = @tenant AND e.model = @model AND e.dimensions = {dims}
        ORDER BY (e.vector::vector({dims})) <=> @vector::vector({dims}) LIMIT 10
        """;

    private static void AppendFilter(StringBuilder sql, List<object> parameters, RetrievalFilter filter, string documentColumn)
    {
        if (filter.DocumentIds is { Count: > 0 } ids)
        {
            sql.Append(" AND ").Append(documentColumn).Append(" = ANY(@docs)");
            parameters.Add(new NpgsqlParameter("docs", ids.ToArray()));
        }

        if (filter.Tag is { } tag)
        {
            sql.Append(" AND d.tags LIKE @tag");
            parameters.Add(new NpgsqlParameter("tag", KnowledgeTags.LikePattern(tag)));
        }
    }
}
