using System.Buffers;
using System.Runtime.InteropServices;
using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Caching;

/// <summary>
/// The semantic cache's lookup on SQLite, which has no vector type: every live entry of the tenant's context is read
/// and compared in process (<see cref="SemanticCache.Cosine"/>, SIMD), the closest one wins. No cap on how many are
/// compared: an older entry that is the better match is found (the cache used to compare only the newest 256).
/// </summary>
/// <remarks>
/// The scan reads only the row id and the embedding's bytes, straight into one pooled buffer, through the context's
/// connection (EF would materialize every entry and allocate a float array per row); the winner's answer is read after
/// by its id. 10,000 entries of 384 dimensions compare in a few milliseconds (docs/benchmarks.md). The context key
/// names the embedding model, so a length that differs from the query's is an entry from before a model change:
/// skipped, never compared.
/// </remarks>
internal sealed class SqliteSemanticCache(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
    : SemanticCache(dbFactory, options, clock)
{
    private const string ScanSql = """
        SELECT id, embedding FROM semantic_cache_entries
        WHERE tenant_id = $tenant AND context_key = $context AND expires_utc > $now
        """;

    protected override async Task<Candidate?> FindClosestAsync(Guid tenantId, string contextKey, string embeddingModel, float[] vector, DateTime now,
        CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(tenantId);
        var (bestId, bestSimilarity) = await ScanAsync(db, tenantId, contextKey, vector, now, ct);
        if (bestId is not { } id)
        {
            return null;
        }

        var row = await db.SemanticCache.AsNoTracking()
            .Where(e => e.Id == id && e.TenantId == tenantId)
            .Select(e => new { e.ResponseJson, e.CostMicros, e.SourceCallId, e.Provider, e.Model })
            .FirstOrDefaultAsync(ct);
        // Gone between the scan and the read (the expiry job): a miss.
        return row is null ? null : new Candidate(row.ResponseJson, row.CostMicros, row.SourceCallId, row.Provider, row.Model, bestSimilarity);
    }

    /// <summary>The id and similarity of the context's live entry closest to <paramref name="vector"/>.</summary>
    internal static async Task<(long? Id, double Similarity)> ScanAsync(KeystoneDbContext db, Guid tenantId, string contextKey, float[] vector,
        DateTime now, CancellationToken ct)
    {
        var bytes = vector.Length * sizeof(float);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(bytes, 1));
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await using var command = (SqliteCommand)db.Database.GetDbConnection().CreateCommand();
            command.CommandText = ScanSql;
            // Typed as text, Microsoft.Data.Sqlite binds a Guid as upper-case "D" and a DateTime in EF's text format: the
            // forms EF stored them in.
            command.Parameters.Add("$tenant", SqliteType.Text).Value = tenantId;
            command.Parameters.Add("$context", SqliteType.Text).Value = contextKey;
            command.Parameters.Add("$now", SqliteType.Text).Value = now;
            await using var reader = await command.ExecuteReaderAsync(ct);
            long? bestId = null;
            var best = double.NegativeInfinity;
            while (await reader.ReadAsync(ct))
            {
                if (reader.GetBytes(1, 0, null, 0, 0) != bytes)
                {
                    continue;
                }

                reader.GetBytes(1, 0, buffer, 0, bytes);
                var similarity = Cosine(vector, MemoryMarshal.Cast<byte, float>(buffer.AsSpan(0, bytes)));
                if (similarity > best)
                {
                    (bestId, best) = (reader.GetInt64(0), similarity);
                }
            }

            return (bestId, best);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
