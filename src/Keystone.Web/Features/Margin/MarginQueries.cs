using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Web.Features.Usage;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Margin;

/// <summary>One day of the business: revenue, platform-paid cost, and what the gateway saw.</summary>
internal sealed record DayTotals(DateTime Day, long RevenueMicros, long CostMicros, long Calls, long Errors, long Fallbacks,
    long CacheHits, long SavedMicros)
{
    public long MarginMicros => RevenueMicros - CostMicros;

    public double? MarginRatio => RevenueMicros == 0 ? null : (double)MarginMicros / RevenueMicros;
}

/// <summary>One row of the margin table.</summary>
/// <remarks><c>TopFeatureAlias</c>: the model alias that carries most of the top feature's cost (the "why" of a thin margin).</remarks>
internal sealed record MarginRow(Guid TenantId, string Tenant, string Plan, long RevenueMicros, long CostMicros,
    IReadOnlyList<long> DailyCostMicros, string? TopFeature, long TopFeatureCostMicros, string? TopFeatureAlias = null)
{
    /// <summary>Cost-to-revenue above this is flagged.</summary>
    public const double CostRatioFlag = 0.30;

    public long MarginMicros => RevenueMicros - CostMicros;

    public double? MarginRatio => RevenueMicros == 0 ? null : (double)MarginMicros / RevenueMicros;

    /// <summary>Cost over revenue; infinite when there is cost and no revenue.</summary>
    public double? CostRatio => RevenueMicros == 0 ? (CostMicros == 0 ? null : double.PositiveInfinity) : (double)CostMicros / RevenueMicros;

    public bool Flagged => CostRatio is { } r && r > CostRatioFlag;

    /// <summary>The top feature's share of the tenant's cost, 0–1.</summary>
    public double? TopFeatureShare => CostMicros == 0 ? null : (double)TopFeatureCostMicros / CostMicros;

    /// <summary>
    /// The paying customer with the lowest margin (revenue above zero; free tenants have no margin to be thin), ties
    /// broken by the larger loss; null when no tenant pays anything in the range.
    /// </summary>
    public static MarginRow? Thinnest(IEnumerable<MarginRow> rows) => rows
        .Where(r => r.RevenueMicros > 0 && r.CostMicros > 0)
        .OrderBy(r => r.MarginRatio).ThenBy(r => r.MarginMicros).FirstOrDefault();
}

/// <summary>A tenant's drill-down.</summary>
internal sealed record TenantMargin(
    MarginRow Row,
    IReadOnlyList<DayTotals> Days,
    IReadOnlyList<UsageSlice> ByFeature,
    IReadOnlyList<UsageSlice> ByModel,
    IReadOnlyList<UsageSlice> TopUsers,
    long ActiveUsers);

/// <summary>Observed numbers a projection starts from.</summary>
internal sealed record ProjectionBase(int Days, long CostMicros, long RevenueMicros, long ActiveUsers, long Calls, long CacheHits,
    long FastCalls, long FastCostMicros, IReadOnlyList<(string Feature, long CostMicros)> FeatureMix);

/// <summary>The margin views, read from rollups in the caller's tenant scope.</summary>
internal sealed class MarginQueries(IDbContextFactory<KeystoneDbContext> dbFactory)
{
    /// <summary>The alias whose share the projection varies.</summary>
    public const string FastAlias = "fast";

    public async Task<IReadOnlyList<MarginRow>> TenantsAsync(ReportRange range, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // One pass over the day rows: cost per tenant, day and feature gives both the ledger's daily cost and the top feature.
        var cells = await PlatformDays(db, range)
            .GroupBy(r => new { r.TenantId, r.BucketStartUtc, r.Feature, r.Alias })
            .Select(g => new { g.Key.TenantId, Day = g.Key.BucketStartUtc, g.Key.Feature, g.Key.Alias, Cost = g.Sum(r => r.CostMicros) })
            .ToListAsync(ct);
        var costByDay = cells.GroupBy(c => (c.TenantId, RevenueQueries.Utc(c.Day))).ToDictionary(g => g.Key, g => g.Sum(c => c.Cost));
        var ledger = await RevenueQueries.LedgerAsync(db, range, costByDay, ct);
        var top = cells.GroupBy(c => (c.TenantId, c.Feature))
            .Select(g => (Tenant: g.Key.TenantId, g.Key.Feature, Cost: g.Sum(c => c.Cost)))
            .GroupBy(f => f.Tenant)
            .ToDictionary(g => g.Key, g => g.OrderByDescending(f => f.Cost).ThenBy(f => f.Feature, StringComparer.Ordinal).First());
        var topAlias = cells.GroupBy(c => (c.TenantId, c.Feature, c.Alias))
            .Select(g => (g.Key.TenantId, g.Key.Feature, g.Key.Alias, Cost: g.Sum(c => c.Cost)))
            .GroupBy(a => (a.TenantId, a.Feature))
            .ToDictionary(g => g.Key, g => g.OrderByDescending(a => a.Cost).ThenBy(a => a.Alias, StringComparer.Ordinal).First().Alias);
        var revenue = ledger.RevenueByDay.GroupBy(kv => kv.Key.TenantId).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
        var cost = costByDay.GroupBy(kv => kv.Key.TenantId).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
        return ledger.Tenants.Select(t =>
        {
            var found = top.TryGetValue(t.Id, out var topFeature);
            return new MarginRow(t.Id, t.Name, t.Plan, revenue.GetValueOrDefault(t.Id), cost.GetValueOrDefault(t.Id),
                range.EachDay().Select(d => costByDay.GetValueOrDefault((t.Id, d))).ToList(),
                found && topFeature.Cost > 0 ? topFeature.Feature : null, found ? topFeature.Cost : 0,
                found && topFeature.Cost > 0 && topAlias.TryGetValue((t.Id, topFeature.Feature), out var alias) && alias != "" ? alias : null);
        }).ToList();
    }

    /// <summary>A tenant's drill-down, or null when the tenant is not in the caller's scope.</summary>
    public async Task<TenantMargin?> TenantAsync(Guid tenantId, ReportRange range, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var ledger = await RevenueQueries.LedgerAsync(db, range, ct);
        var tenant = ledger.Tenants.FirstOrDefault(t => t.Id == tenantId);
        if (tenant is null)
        {
            return null;
        }

        var rows = UsageRollupRows.Days(db, range).Where(r => r.TenantId == tenantId);
        var daily = await rows.GroupBy(r => r.BucketStartUtc)
            .Select(g => new
            {
                Day = g.Key, Calls = g.Sum(r => r.Calls), Errors = g.Sum(r => r.Errors), Fallbacks = g.Sum(r => r.Fallbacks),
                CacheHits = g.Sum(r => r.CacheHits), Saved = g.Sum(r => r.SavedCostMicros),
            })
            .ToListAsync(ct);
        var dailyByDay = daily.ToDictionary(d => RevenueQueries.Utc(d.Day));
        var days = range.EachDay().Select(d =>
        {
            dailyByDay.TryGetValue(d, out var x);
            return new DayTotals(d, ledger.RevenueByDay.GetValueOrDefault((tenantId, d)), ledger.CostByDay.GetValueOrDefault((tenantId, d)),
                x?.Calls ?? 0, x?.Errors ?? 0, x?.Fallbacks ?? 0, x?.CacheHits ?? 0, x?.Saved ?? 0);
        }).ToList();

        var platform = rows.Where(r => r.BilledTo != BilledTo.TenantKey);
        var byFeature = await platform.GroupBy(r => r.Feature)
            .Select(g => new { Key = g.Key, Calls = g.Sum(r => r.Calls), Errors = g.Sum(r => r.Errors), Cost = g.Sum(r => r.CostMicros) })
            .ToListAsync(ct);
        var byModel = await platform.GroupBy(r => r.Provider + "/" + r.Model)
            .Select(g => new { Key = g.Key, Calls = g.Sum(r => r.Calls), Errors = g.Sum(r => r.Errors), Cost = g.Sum(r => r.CostMicros) })
            .ToListAsync(ct);

        var userRows = await UsageRollupRows.UserDays(db, range).Where(u => u.TenantId == tenantId)
            .GroupBy(u => new { u.Feature, u.UserId, u.EndUser })
            .Select(g => new { g.Key.Feature, g.Key.UserId, g.Key.EndUser, Calls = g.Sum(u => u.Calls), Errors = g.Sum(u => u.Errors),
                // Margin is platform-paid cost, as in the feature and model tables: calls on the tenant's own key cost the platform nothing.
                Cost = g.Sum(u => u.BilledTo != BilledTo.TenantKey ? u.CostMicros : 0) })
            .ToListAsync(ct);
        var activeByFeature = userRows.Where(u => u.UserId != "" || u.EndUser != "")
            .GroupBy(u => u.Feature).ToDictionary(g => g.Key, g => (long)g.Select(u => (u.UserId, u.EndUser)).Distinct().Count());
        var activeUsers = userRows.Where(u => u.UserId != "" || u.EndUser != "").Select(u => (u.UserId, u.EndUser)).Distinct().LongCount();

        var topUsers = userRows.Where(u => u.UserId != "" || u.EndUser != "")
            .GroupBy(u => (u.UserId, u.EndUser))
            .Select(g => (g.Key, Calls: g.Sum(u => u.Calls), Errors: g.Sum(u => u.Errors), Cost: g.Sum(u => u.Cost)))
            .OrderByDescending(u => u.Cost).ThenBy(u => u.Key.EndUser, StringComparer.Ordinal).Take(10).ToList();
        var ids = topUsers.Where(u => u.Key.UserId != "").Select(u => u.Key.UserId).Distinct().ToList();
        var names = await db.Users.AsNoTracking().Where(u => ids.Contains(u.Id))
            .ToDictionaryAsync(u => u.Id, u => u.Email ?? u.Id, ct);

        var row = new MarginRow(tenant.Id, tenant.Name, tenant.Plan, ledger.Revenue(tenantId), ledger.Cost(tenantId),
            days.Select(d => d.CostMicros).ToList(),
            byFeature.OrderByDescending(f => f.Cost).FirstOrDefault()?.Key, byFeature.Select(f => f.Cost).DefaultIfEmpty().Max());
        return new TenantMargin(row, days,
            byFeature.OrderByDescending(f => f.Cost).Select(f => new UsageSlice(f.Key, f.Key, f.Calls, f.Errors, f.Cost, activeByFeature.GetValueOrDefault(f.Key))).ToList(),
            byModel.OrderByDescending(m => m.Cost).Select(m => new UsageSlice(m.Key, m.Key == "/" ? UsageSlice.NoModelLabel : m.Key, m.Calls, m.Errors, m.Cost, 0)).ToList(),
            topUsers.Select(u => new UsageSlice(u.Key.UserId + "|" + u.Key.EndUser,
                u.Key.EndUser != "" ? u.Key.EndUser : names.GetValueOrDefault(u.Key.UserId, u.Key.UserId), u.Calls, u.Errors, u.Cost, 1)).ToList(),
            activeUsers);
    }

    /// <summary>What the projection starts from: observed cost, revenue, users and mix over the range.</summary>
    public async Task<ProjectionBase> ProjectionBaseAsync(ReportRange range, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var ledger = await RevenueQueries.LedgerAsync(db, range, ct);
        var platform = PlatformDays(db, range);
        var calls = await platform.SumAsync(r => (long?)r.Calls, ct) ?? 0;
        var hits = await platform.SumAsync(r => (long?)r.CacheHits, ct) ?? 0;
        var fast = platform.Where(r => r.Alias == FastAlias);
        var fastCalls = await fast.SumAsync(r => (long?)r.Calls, ct) ?? 0;
        var fastCost = await fast.SumAsync(r => (long?)r.CostMicros, ct) ?? 0;
        var mix = await platform.GroupBy(r => r.Feature).Select(g => new { g.Key, Cost = g.Sum(r => r.CostMicros) })
            .OrderByDescending(f => f.Cost).ToListAsync(ct);
        var active = await UsageRollupRows.UserDays(db, range).Where(u => u.UserId != "" || u.EndUser != "")
            .Select(u => new { u.TenantId, u.UserId, u.EndUser }).Distinct().LongCountAsync(ct);
        return new ProjectionBase(range.Days, ledger.TotalCost, ledger.TotalRevenue, active, calls, hits, fastCalls, fastCost,
            mix.Select(m => (m.Key, m.Cost)).ToList());
    }

    private static IQueryable<Data.Rollups.UsageRollup> PlatformDays(KeystoneDbContext db, ReportRange range) =>
        UsageRollupRows.Days(db, range).Where(r => r.BilledTo != BilledTo.TenantKey);
}
