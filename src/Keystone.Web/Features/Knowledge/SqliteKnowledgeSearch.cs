using System.Text;
using Keystone.Data;
using Keystone.Data.Knowledge;
using Keystone.Data.Vectors;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// SQLite: BM25 over the FTS5 table (the tenant's scope token is part of the match, so other tenants' chunks are never
/// candidates); the vector half is <see cref="KnowledgeSearch"/>'s (the tenant's vectors of the model in memory,
/// scanned with SIMD).
/// </summary>
internal sealed class SqliteKnowledgeSearch(KeystoneDbFactory dbFactory, VectorSearch vectors, KnowledgeTermStats terms) : KnowledgeSearch(dbFactory, vectors)
{
    public override async Task<IReadOnlyList<Guid>> TextAsync(Guid tenantId, IReadOnlyList<string> words, RetrievalFilter filter, int limit, CancellationToken ct)
    {
        words = await terms.SelectiveAsync(tenantId, words, c => ChunkCountAsync(tenantId, c), (w, chunks, c) => WordCountAsync(tenantId, w, chunks, c), ct);
        if (words.Count == 0)
        {
            return [];
        }

        var match = Match(tenantId, words);
        var parameters = new List<object> { new SqliteParameter("@match", match), new SqliteParameter("@tenant", Text(tenantId)), new SqliteParameter("@limit", limit) };
        var sql = new StringBuilder("""
            SELECT c.id AS "Value" FROM knowledge_chunks_fts f
            JOIN knowledge_chunks c ON c.rowid = f.rowid
            JOIN knowledge_documents d ON d.id = c.document_id
            WHERE knowledge_chunks_fts MATCH @match AND c.tenant_id = @tenant
            """);
        AppendFilter(sql, parameters, filter, "c.document_id");
        sql.Append(" ORDER BY bm25(knowledge_chunks_fts) LIMIT @limit");
        await using var db = DbFactory.ForTenant(tenantId);
        // The SQL is fixed text plus parameter names; every value is a parameter.
#pragma warning disable EF1002
        return await db.Database.SqlQueryRaw<Guid>(sql.ToString(), [.. parameters]).ToListAsync(ct);
#pragma warning restore EF1002
    }

    /// <summary>Words are letters and digits only, each quoted as an FTS5 string; the tenant's scope token is part of the match.</summary>
    private static string Match(Guid tenantId, IReadOnlyList<string> words)
        => "{header text} : (" + string.Join(" OR ", words.Select(w => "\"" + w + "\"")) + ") AND scope : " + KnowledgeModel.SqliteTenantToken(tenantId);

    /// <summary>
    /// The tenant's chunks that contain <paramref name="word"/> (FTS5 tokenizes it as it indexed: stemmed), or an upper
    /// bound below half of <paramref name="tenantChunks"/>. A rare word's list is short and counted in microseconds over
    /// the whole index; intersecting a common word's list with the tenant's scope token is what costs (about 100 ms at
    /// 100,000 chunks), so the scoped count runs only when the whole index holds the word often enough to matter.
    /// </summary>
    private async Task<long> WordCountAsync(Guid tenantId, string word, long tenantChunks, CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(tenantId);
        var everywhere = await db.Database.SqlQueryRaw<long>("""SELECT count(*) AS "Value" FROM knowledge_chunks_fts WHERE knowledge_chunks_fts MATCH @match""",
            new SqliteParameter("@match", "{header text} : \"" + word + "\"")).SingleAsync(ct);
        if (everywhere * 2 < tenantChunks)
        {
            return everywhere;
        }

        return await db.Database.SqlQueryRaw<long>("""SELECT count(*) AS "Value" FROM knowledge_chunks_fts WHERE knowledge_chunks_fts MATCH @match""",
            new SqliteParameter("@match", Match(tenantId, [word]))).SingleAsync(ct);
    }

    /// <summary>EF Core stores a Guid on SQLite as upper-case text.</summary>
    private static string Text(Guid id) => id.ToString().ToUpperInvariant();

    private static void AppendFilter(StringBuilder sql, List<object> parameters, RetrievalFilter filter, string documentColumn)
    {
        if (filter.DocumentIds is { Count: > 0 } ids)
        {
            sql.Append(" AND ").Append(documentColumn).Append(" IN (");
            for (var i = 0; i < ids.Count; i++)
            {
                sql.Append(i == 0 ? "" : ", ").Append("@doc").Append(i);
                parameters.Add(new SqliteParameter("@doc" + i, Text(ids[i])));
            }

            sql.Append(')');
        }

        if (filter.Tag is { } tag)
        {
            sql.Append(" AND d.tags LIKE @tag");
            parameters.Add(new SqliteParameter("@tag", KnowledgeTags.LikePattern(tag)));
        }
    }
}
