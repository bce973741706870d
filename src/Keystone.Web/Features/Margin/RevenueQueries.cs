using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Web.Features.Usage;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Margin;

/// <summary>One tenant as the margin views show it.</summary>
internal sealed record TenantInfo(Guid Id, string Name, string Plan, TenantPricing Pricing);

/// <summary>Revenue and platform-paid cost per tenant and day over a range.</summary>
internal sealed record RevenueLedger(
    IReadOnlyList<TenantInfo> Tenants,
    IReadOnlyDictionary<(Guid TenantId, DateTime Day), long> CostByDay,
    IReadOnlyDictionary<(Guid TenantId, DateTime Day), long> RevenueByDay)
{
    public long Cost(Guid tenantId) => CostByDay.Where(kv => kv.Key.TenantId == tenantId).Sum(kv => kv.Value);

    public long Revenue(Guid tenantId) => RevenueByDay.Where(kv => kv.Key.TenantId == tenantId).Sum(kv => kv.Value);

    public long TotalCost => CostByDay.Values.Sum();

    public long TotalRevenue => RevenueByDay.Values.Sum();
}

/// <summary>
/// Loads what revenue needs from rollups, plans, contracts and imported invoices, in the caller's tenant
/// scope (platform admins: all tenants or the one they switched to). Cost here is what the platform pays:
/// calls on a tenant's own key (BYOK) cost the platform nothing and are left out of margin.
/// </summary>
internal sealed class RevenueQueries(IDbContextFactory<KeystoneDbContext> dbFactory)
{
    public async Task<RevenueLedger> LedgerAsync(ReportRange range, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await LedgerAsync(db, range, ct);
    }

    internal static async Task<RevenueLedger> LedgerAsync(KeystoneDbContext db, ReportRange range, CancellationToken ct)
    {
        var costs = await db.UsageRollups.AsNoTracking()
            .Where(r => r.Grain == Data.Rollups.RollupGrain.Day && r.BucketStartUtc >= range.FromUtc && r.BucketStartUtc < range.ToUtc
                && r.BilledTo != BilledTo.TenantKey)
            .GroupBy(r => new { r.TenantId, r.BucketStartUtc })
            .Select(g => new { g.Key.TenantId, g.Key.BucketStartUtc, Cost = g.Sum(r => r.CostMicros) })
            .ToListAsync(ct);
        return await LedgerAsync(db, range, costs.ToDictionary(c => (c.TenantId, Utc(c.BucketStartUtc)), c => c.Cost), ct);
    }

    /// <summary>The ledger from platform-paid cost per tenant and day the caller already read (one pass over the rollups, not two).</summary>
    internal static async Task<RevenueLedger> LedgerAsync(KeystoneDbContext db, ReportRange range,
        IReadOnlyDictionary<(Guid TenantId, DateTime Day), long> costByDay, CancellationToken ct)
    {
        var tenants = await TenantsAsync(db, ct);

        // Invoices of every month the range touches (a partial month takes its share).
        var firstMonth = new DateTime(range.FromUtc.Year, range.FromUtc.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        var invoices = await db.InvoiceLines.AsNoTracking()
            .Where(l => l.PeriodStartUtc >= firstMonth && l.PeriodStartUtc < range.ToUtc)
            .GroupBy(l => new { l.TenantId, l.PeriodStartUtc })
            .Select(g => new { g.Key.TenantId, g.Key.PeriodStartUtc, Amount = g.Sum(l => l.AmountMicros) })
            .ToListAsync(ct);
        var invoiced = invoices.ToDictionary(i => (i.TenantId, Utc(i.PeriodStartUtc)), i => i.Amount);

        var revenue = RevenueCalculator.ByDay(tenants.Select(t => t.Pricing), costByDay, invoiced, range.FromUtc, range.ToUtc);
        return new RevenueLedger(tenants, costByDay, revenue);
    }

    /// <summary>The tenants in scope with their pricing (tenants are not tenant-filtered, so scope is applied here).</summary>
    internal static async Task<IReadOnlyList<TenantInfo>> TenantsAsync(KeystoneDbContext db, CancellationToken ct)
    {
        var scope = db.Scope;
        var q = db.Tenants.AsNoTracking();
        if (!scope.AllTenants)
        {
            var only = scope.TenantId ?? Guid.Empty;
            q = q.Where(t => t.Id == only);
        }

        var rows = await q.OrderBy(t => t.Name)
            .Select(t => new
            {
                t.Id, t.Name, Plan = t.Plan!.Name, Price = t.ContractMonthlyPriceMicros ?? t.Plan.MonthlyPriceMicros,
                t.Plan.IncludedUsageMicros, t.Plan.OverageMarkupBasisPoints,
            })
            .ToListAsync(ct);
        return rows.Select(r => new TenantInfo(r.Id, r.Name, r.Plan,
            new TenantPricing(r.Id, r.Price, r.IncludedUsageMicros, r.OverageMarkupBasisPoints))).ToList();
    }

    internal static DateTime Utc(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc);
}
