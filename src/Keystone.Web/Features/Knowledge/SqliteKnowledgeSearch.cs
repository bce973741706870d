using System.Numerics.Tensors;
using System.Text;
using Keystone.Data;
using Keystone.Data.Knowledge;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Knowledge;

/// <summary>
/// SQLite: BM25 over the FTS5 table (the tenant's scope token is part of the match, so other tenants' chunks are never
/// candidates), and the tenant's vectors of the model read as float32 blobs and compared in process with SIMD
/// (<see cref="TensorPrimitives.CosineSimilarity(ReadOnlySpan{float}, ReadOnlySpan{float})"/>), keeping the best in a
/// bounded heap.
/// </summary>
internal sealed class SqliteKnowledgeSearch(KeystoneDbFactory dbFactory) : IKnowledgeSearch
{
    public async Task<IReadOnlyList<Guid>> TextAsync(Guid tenantId, IReadOnlyList<string> words, RetrievalFilter filter, int limit, CancellationToken ct)
    {
        if (words.Count == 0)
        {
            return [];
        }

        // Words are letters and digits only, each quoted as an FTS5 string.
        var match = "{header text} : (" + string.Join(" OR ", words.Select(w => "\"" + w + "\"")) + ") AND scope : " + KnowledgeModel.SqliteTenantToken(tenantId);
        var parameters = new List<object> { new SqliteParameter("@match", match), new SqliteParameter("@tenant", Text(tenantId)), new SqliteParameter("@limit", limit) };
        var sql = new StringBuilder("""
            SELECT c.id AS "Value" FROM knowledge_chunks_fts f
            JOIN knowledge_chunks c ON c.rowid = f.rowid
            JOIN knowledge_documents d ON d.id = c.document_id
            WHERE knowledge_chunks_fts MATCH @match AND c.tenant_id = @tenant
            """);
        AppendFilter(sql, parameters, filter, "c.document_id");
        sql.Append(" ORDER BY bm25(knowledge_chunks_fts) LIMIT @limit");
        await using var db = dbFactory.ForTenant(tenantId);
        // The SQL is fixed text plus parameter names; every value is a parameter.
#pragma warning disable EF1002
        return await db.Database.SqlQueryRaw<Guid>(sql.ToString(), [.. parameters]).ToListAsync(ct);
#pragma warning restore EF1002
    }

    public async Task<IReadOnlyList<Guid>> VectorAsync(Guid tenantId, string model, float[] vector, RetrievalFilter filter, int limit, CancellationToken ct)
    {
        var parameters = new List<object> { new SqliteParameter("@tenant", Text(tenantId)), new SqliteParameter("@model", model), new SqliteParameter("@dims", vector.Length) };
        var sql = new StringBuilder("""
            SELECT e.chunk_id, e.vector FROM knowledge_embeddings e
            JOIN knowledge_documents d ON d.id = e.document_id
            WHERE e.tenant_id = @tenant AND e.model = @model AND e.dimensions = @dims
            """);
        AppendFilter(sql, parameters, filter, "e.document_id");
        await using var db = dbFactory.ForTenant(tenantId);
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql.ToString();
        command.Parameters.AddRange(parameters.ToArray());
        var best = new PriorityQueue<Guid, float>(limit + 1);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var buffer = new float[vector.Length];
        while (await reader.ReadAsync(ct))
        {
            var bytes = (byte[])reader.GetValue(1);
            if (bytes.Length != vector.Length * sizeof(float))
            {
                continue;
            }

            Buffer.BlockCopy(bytes, 0, buffer, 0, bytes.Length);
            var similarity = TensorPrimitives.CosineSimilarity(vector, buffer);
            best.Enqueue(Guid.Parse(reader.GetString(0)), similarity);
            if (best.Count > limit)
            {
                best.Dequeue(); // the lowest similarity goes
            }
        }

        var hits = new List<(Guid Id, float Similarity)>(best.Count);
        while (best.TryDequeue(out var id, out var similarity))
        {
            hits.Add((id, similarity));
        }

        hits.Reverse();
        return hits.Select(h => h.Id).ToList();
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
