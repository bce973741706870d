using Keystone.Data;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Caching;

/// <summary>
/// The semantic cache's lookup on SQLite, which has no vector type: the newest entries of the context are read and
/// compared in process (<see cref="SemanticCache.Cosine"/>).
/// </summary>
internal sealed class SqliteSemanticCache(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock)
    : SemanticCache(dbFactory, options, clock)
{
    /// <summary>At most this many entries of a context are compared per lookup (the newest).</summary>
    internal const int Candidates = 256;

    protected override async Task<Candidate?> FindClosestAsync(Guid tenantId, string contextKey, float[] vector, DateTime now, CancellationToken ct)
    {
        await using var db = DbFactory.ForTenant(tenantId);
        var rows = await db.SemanticCache.AsNoTracking()
            .Where(e => e.TenantId == tenantId && e.ContextKey == contextKey && e.ExpiresUtc > now)
            .OrderByDescending(e => e.CreatedUtc)
            .Take(Candidates)
            .Select(e => new { e.Embedding, e.ResponseJson, e.CostMicros, e.SourceCallId, e.Provider, e.Model })
            .ToListAsync(ct);
        return rows.Select(e => new Candidate(e.ResponseJson, e.CostMicros, e.SourceCallId, e.Provider, e.Model, Cosine(vector, e.Embedding)))
            .MaxBy(c => c.Similarity);
    }
}
