using System.Globalization;
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
/// <remarks>
/// The GIN index serves <c>@@</c> under forced row-level security only where the match function is LEAKPROOF
/// (decision 0055: <c>scripts/postgres-setup.sql</c> marks it; <c>--migrate</c> warns where it is not marked). The
/// other conditions keep the index path: the tenant and document conditions are equality (LEAKPROOF), the tag's
/// <c>LIKE</c> applies to the documents joined in, and <c>ts_rank_cd</c> ranks only the rows that passed the policy.
/// </remarks>
internal sealed class PostgresKnowledgeSearch(KeystoneDbFactory dbFactory, VectorSearch vectors, KnowledgeTermStats terms) : KnowledgeSearch(dbFactory, vectors)
{
    public override async Task<IReadOnlyList<Guid>> TextAsync(Guid tenantId, IReadOnlyList<string> words, RetrievalFilter filter, int limit, CancellationToken ct)
    {
        words = await terms.SelectiveAsync(tenantId, words, c => ChunkCountAsync(tenantId, c), (cold, _, c) => WordCountsAsync(tenantId, cold, c), ct);
        if (words.Count == 0)
        {
            return [];
        }

        var (sql, parameters) = TextSql(tenantId, words, filter, limit);
        await using var db = DbFactory.ForTenant(tenantId);
#pragma warning disable EF1002 // fixed SQL text; every value is a parameter
        return await db.Database.SqlQueryRaw<Guid>(sql, [.. parameters]).ToListAsync(ct);
#pragma warning restore EF1002
    }

    /// <summary>The text half's query and its parameters (the test of its plan reads the same).</summary>
    internal static (string Sql, List<NpgsqlParameter> Parameters) TextSql(Guid tenantId, IReadOnlyList<string> words, RetrievalFilter filter, int limit)
    {
        // Letters and digits only: safe as to_tsquery operands; OR, so any matching word makes a candidate and ranking sorts them.
        var parameters = new List<NpgsqlParameter>
        {
            new("query", string.Join(" | ", words)), new("tenant", tenantId), new("limit", limit),
        };
        var sql = new StringBuilder("""
            SELECT c.id AS "Value" FROM knowledge_chunks c
            JOIN knowledge_documents d ON d.id = c.document_id
            WHERE c.search_vector @@ to_tsquery('english', @query) AND c.tenant_id = @tenant
            """);
        AppendFilter(sql, parameters, filter, "c.document_id");
        // The query written in place (not a CROSS JOIN of its result): a stable expression of a parameter, which the
        // planner can take to the GIN index; joined in as a row it was applied to each of the tenant's chunks in turn.
        sql.Append(" ORDER BY ts_rank_cd(c.search_vector, to_tsquery('english', @query)) DESC, c.id LIMIT @limit");
        return (sql.ToString(), parameters);
    }

    /// <summary>
    /// How many of the tenant's chunks match each of <paramref name="words"/> (stemmed; a stop word matches none), in one
    /// query: the GIN index finds the chunks matching any of them and one pass counts each word among those. The first
    /// question at 100,000 chunks counted its words one query each, each reading most of the tenant's chunks (1.6 s).
    /// </summary>
    private async Task<IReadOnlyList<long>> WordCountsAsync(Guid tenantId, IReadOnlyList<string> words, CancellationToken ct)
    {
        var (sql, parameters) = WordCountsSql(tenantId, words);
        await using var db = DbFactory.ForTenant(tenantId);
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddRange(parameters.ToArray());
            await using var reader = await command.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            var counts = new long[words.Count];
            for (var i = 0; i < counts.Length; i++)
            {
                counts[i] = reader.GetInt64(i);
            }

            return counts;
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>One <c>count(*) FILTER</c> column per word, over the tenant's chunks that match any of them.</summary>
    internal static (string Sql, List<NpgsqlParameter> Parameters) WordCountsSql(Guid tenantId, IReadOnlyList<string> words)
    {
        var parameters = new List<NpgsqlParameter> { new("tenant", tenantId), new("any", string.Join(" | ", words)) };
        var sql = new StringBuilder("SELECT ");
        for (var i = 0; i < words.Count; i++)
        {
            var name = "w" + i.ToString(CultureInfo.InvariantCulture);
            sql.Append(i == 0 ? "" : ", ").Append("count(*) FILTER (WHERE search_vector @@ to_tsquery('english', @").Append(name).Append("))");
            parameters.Add(new NpgsqlParameter(name, words[i]));
        }

        sql.Append(" FROM knowledge_chunks WHERE tenant_id = @tenant AND search_vector @@ to_tsquery('english', @any)");
        return (sql.ToString(), parameters);
    }

    private static void AppendFilter(StringBuilder sql, List<NpgsqlParameter> parameters, RetrievalFilter filter, string documentColumn)
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
