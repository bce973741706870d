using System.Diagnostics;
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
        var step = Stopwatch.GetTimestamp();
        words = await SelectiveAsync(tenantId, words, ct);
        RetrievalStages.Current?.WordsMs = RetrievalStages.Since(step);
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

    /// <summary>
    /// The words worth searching (decision 54): those of the question whose lexemes are not all in at least half of the
    /// tenant's chunks. The tenant's common lexemes come from one pass (<see cref="KnowledgeTermStats.CommonAsync"/>); the
    /// question's words are stemmed and checked against them by PostgreSQL in one query (a stop word has no lexeme and is
    /// dropped: it matches nothing). No word of a question is ever counted on the request path.
    /// </summary>
    private async Task<IReadOnlyList<string>> SelectiveAsync(Guid tenantId, IReadOnlyList<string> words, CancellationToken ct)
    {
        if (words.Count == 0)
        {
            return words;
        }

        var stats = await terms.CommonAsync(tenantId, c => CommonWordsAsync(tenantId, c), ct);
        if (stats.SearchesEveryWord || stats.Lexemes.Count == 0)
        {
            return words;
        }

        var (sql, parameters) = SelectiveSql(words, stats.Lexemes);
        await using var db = DbFactory.ForTenant(tenantId);
#pragma warning disable EF1002 // fixed SQL text; every value is a parameter
        return await db.Database.SqlQueryRaw<string>(sql, [.. parameters]).ToListAsync(ct);
#pragma warning restore EF1002
    }

    /// <summary>The question's words, in order, less those whose lexemes are all among <paramref name="common"/>.</summary>
    internal static (string Sql, List<NpgsqlParameter> Parameters) SelectiveSql(IReadOnlyList<string> words, IReadOnlyList<string> common)
        => ("""
            SELECT x.w AS "Value" FROM unnest(@words) WITH ORDINALITY AS x(w, n)
            WHERE NOT (tsvector_to_array(to_tsvector('english', x.w)) <@ @common) ORDER BY x.n
            """,
            [new("words", words.ToArray()), new("common", common.ToArray())]);

    /// <summary>
    /// The tenant's chunk count and the lexemes in at least half of its chunks: <c>ts_stat</c> reads the tenant's stored
    /// tsvectors once (row-level security holds it to the tenant set on the connection; the tenant is also in the
    /// inner query, quoted by <c>format</c>). Below <see cref="KnowledgeTermStats.MinChunks"/> chunks nothing is read.
    /// </summary>
    internal async Task<CommonWords> CommonWordsAsync(Guid tenantId, CancellationToken ct)
    {
        var chunks = await ChunkCountAsync(tenantId, ct);
        if (chunks < KnowledgeTermStats.MinChunks)
        {
            return new CommonWords(chunks, []);
        }

        var (sql, parameters) = CommonWordsSql(tenantId, chunks);
        await using var db = DbFactory.ForTenant(tenantId);
        db.Database.SetCommandTimeout(TimeSpan.FromMinutes(5));
#pragma warning disable EF1002 // fixed SQL text; every value is a parameter
        return new CommonWords(chunks, await db.Database.SqlQueryRaw<string>(sql, [.. parameters]).ToListAsync(ct));
#pragma warning restore EF1002
    }

    /// <summary>The one-pass statistics' query: lexemes of the tenant's chunks found in at least half of <paramref name="chunks"/>.</summary>
    internal static (string Sql, List<NpgsqlParameter> Parameters) CommonWordsSql(Guid tenantId, long chunks)
        => ("""
            SELECT word AS "Value" FROM ts_stat(format('SELECT search_vector FROM knowledge_chunks WHERE tenant_id = %L', @tenant::text))
            WHERE ndoc * 2 >= @chunks ORDER BY word
            """,
            [new("tenant", tenantId), new("chunks", chunks)]);

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
