using System.Diagnostics;
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
        var step = Stopwatch.GetTimestamp();
        words = await terms.SelectiveAsync(tenantId, words, c => ChunkCountAsync(tenantId, c), (w, chunks, c) => WordCountAsync(tenantId, w, chunks, c), ct);
        RetrievalStages.Current?.WordsMs = RetrievalStages.Since(step);
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
    /// The tenant's chunks that contain <paramref name="word"/> (FTS5 tokenizes it as it indexed: stemmed), or a bound on
    /// the same side of half of <paramref name="tenantChunks"/>: only "under half or not" is used. One statement reads the
    /// word's count over the whole index (its doclist: cheap), all chunks, and the tenant's. A word under half of the
    /// tenant's chunks everywhere is rare for the tenant; a word so common everywhere that, even if every other tenant's
    /// chunk held it, the rest still fill half of the tenant's (count − other tenants' chunks ≥ half) is common for the
    /// tenant. Only a word between the two is counted within the tenant's scope — intersecting its list with the scope
    /// token, the costly step (about 100 ms at 100,000 chunks) — and that count stops at half (LIMIT): past it the answer
    /// is known. The counts come from one read transaction; the decision is the one the exact count would give.
    /// </summary>
    private async Task<long> WordCountAsync(Guid tenantId, string word, long tenantChunks, CancellationToken ct)
    {
        var half = (tenantChunks + 1) / 2;
        await using var db = DbFactory.ForTenant(tenantId);
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            var connection = db.Database.GetDbConnection();
            // One read transaction (deferred: it takes no write lock) — the counts below come from one snapshot, so the
            // bounds agree with each other.
            await using var read = ((SqliteConnection)connection).BeginTransaction(deferred: true);
            var everywhere = await ScalarAsync(connection, read, "SELECT count(*) FROM knowledge_chunks_fts WHERE knowledge_chunks_fts MATCH @match",
                ("@match", "{header text} : \"" + word + "\""));
            if (everywhere * 2 < tenantChunks)
            {
                // Most words of a question (its selective ones) end here: one short doclist read.
                return everywhere;
            }

            // Two index walks (a few milliseconds at 100,000 chunks), only for a word common enough everywhere.
            var others = await ScalarAsync(connection, read,
                "SELECT (SELECT count(*) FROM knowledge_chunks) - (SELECT count(*) FROM knowledge_chunks WHERE tenant_id = @tenant)",
                ("@tenant", Text(tenantId)));
            var atLeast = everywhere - others;
            if (atLeast >= half)
            {
                return atLeast;
            }

            return await ScalarAsync(connection, read, "SELECT count(*) FROM (SELECT 1 FROM knowledge_chunks_fts WHERE knowledge_chunks_fts MATCH @match LIMIT @half)",
                ("@match", Match(tenantId, [word])), ("@half", half));
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private static async Task<long> ScalarAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(new SqliteParameter(name, value));
        }

        return (long)(await command.ExecuteScalarAsync())!;
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
