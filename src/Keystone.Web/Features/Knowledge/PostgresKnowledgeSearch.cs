using System.Text;
using Keystone.Data;
using Keystone.Data.Knowledge;
using Keystone.Data.Vectors;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// PostgreSQL: <c>ts_rank_cd</c> over the chunks' generated tsvector (GIN); the vector half is <see cref="KnowledgeSearch"/>'s
/// (pgvector's cosine distance through the HNSW index of the vector's dimension). Forced row-level security holds both
/// to the tenant set on the connection; the queries name the tenant too.
/// </summary>
internal sealed class PostgresKnowledgeSearch(KeystoneDbFactory dbFactory, VectorSearch vectors, KnowledgeTermStats terms) : KnowledgeSearch(dbFactory, vectors)
{
    public override async Task<IReadOnlyList<Guid>> TextAsync(Guid tenantId, IReadOnlyList<string> words, RetrievalFilter filter, int limit, CancellationToken ct)
    {
        words = await terms.SelectiveAsync(tenantId, words, c => ChunkCountAsync(tenantId, c), (w, _, c) => WordCountAsync(tenantId, w, c), ct);
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
            WHERE c.search_vector @@ to_tsquery('english', @query) AND c.tenant_id = @tenant
            """);
        AppendFilter(sql, parameters, filter, "c.document_id");
        // The query written in place (not a CROSS JOIN of its result): a stable expression of a parameter, which the
        // planner can take to the GIN index; joined in as a row it was applied to each of the tenant's chunks in turn
        // (88 ms for a one-word query at 100,000 chunks).
        sql.Append(" ORDER BY ts_rank_cd(c.search_vector, to_tsquery('english', @query)) DESC, c.id LIMIT @limit");
        await using var db = DbFactory.ForTenant(tenantId);
#pragma warning disable EF1002 // fixed SQL text; every value is a parameter
        return await db.Database.SqlQueryRaw<Guid>(sql.ToString(), [.. parameters]).ToListAsync(ct);
#pragma warning restore EF1002
    }


    /// <summary>The tenant's chunks whose text vector matches <paramref name="word"/> (stemmed, a stop word matches none).</summary>
    private async Task<long> WordCountAsync(Guid tenantId, string word, CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(tenantId);
        return await db.Database.SqlQueryRaw<long>("""
            SELECT count(*) AS "Value" FROM knowledge_chunks WHERE tenant_id = @tenant AND search_vector @@ to_tsquery('english', @word)
            """, new NpgsqlParameter("tenant", tenantId), new NpgsqlParameter("word", word)).SingleAsync(ct);
    }

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
