using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Pricing;

/// <summary>
/// Fallback-priced calls per model, read from <c>llm_calls</c> over a range (the <c>(tenant_id, created_utc)</c> and
/// <c>created_utc</c> indexes bound the scan to the range).
/// </summary>
internal sealed class UnpricedCalls(KeystoneDbFactory dbFactory, IGatewayPricing pricing, TimeProvider clock) : IUnpricedCalls
{
    public async Task<IReadOnlyList<UnpricedModelCalls>> ForTenantAsync(Guid tenantId, DateTime fromUtc, DateTime toUtc, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        return await ReadAsync(db.Calls.Where(c => c.TenantId == tenantId), fromUtc, toUtc, ct);
    }

    public async Task<IReadOnlyList<UnpricedModelCalls>> ForAllTenantsAsync(DateTime fromUtc, DateTime toUtc, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        return await ReadAsync(db.Calls, fromUtc, toUtc, ct);
    }

    private async Task<IReadOnlyList<UnpricedModelCalls>> ReadAsync(IQueryable<LlmCall> calls, DateTime fromUtc, DateTime toUtc, CancellationToken ct)
    {
        var rows = await calls.AsNoTracking()
            .Where(c => c.CreatedUtc >= fromUtc && c.CreatedUtc < toUtc && c.CostStatus == CostStatus.Fallback)
            .GroupBy(c => new { c.Provider, c.Model })
            .Select(g => new { g.Key.Provider, g.Key.Model, Calls = g.LongCount(), Cost = g.Sum(c => c.CostMicros) })
            .ToListAsync(ct);
        var now = clock.GetUtcNow().UtcDateTime;
        var result = new List<UnpricedModelCalls>(rows.Count);
        foreach (var r in rows.OrderByDescending(r => r.Calls))
        {
            var priced = r.Provider is not null && r.Model is not null && await pricing.FindAsync(r.Provider, r.Model, now, ct) is not null;
            result.Add(new UnpricedModelCalls(r.Provider ?? "", r.Model ?? "", r.Calls, r.Cost, priced));
        }

        return result;
    }
}
