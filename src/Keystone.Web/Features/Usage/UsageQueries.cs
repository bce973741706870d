using Keystone.Web.Platform;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Usage;

/// <summary>One day of a tenant's (or a member's own) usage.</summary>
public sealed record UsageDay(DateTime Day, long Calls, long Errors, long InputTokens, long OutputTokens, long CostMicros);

/// <summary>What the caches answered in a range: hits and the cost they saved.</summary>
public sealed record CacheSavings(long Hits, long SavedMicros);

/// <summary>A tenant's usage as its own people see it: never revenue, never other tenants.</summary>
/// <param name="OwnOnly">True when the viewer is a tenant member who sees only their own calls.</param>
/// <param name="Cache">
/// Calls the exact or semantic cache answered and what they would have cost, for the whole tenant; null for a
/// member who sees only their own calls (the cache rollups are not kept per user).
/// </param>
public sealed record TenantUsage(
    bool OwnOnly,
    IReadOnlyList<UsageDay> Days,
    IReadOnlyList<UsageSlice> ByFeature,
    IReadOnlyList<UsageSlice> ByModel,
    IReadOnlyList<UsageSlice> ByUser,
    CacheSavings? Cache = null)
{
    public long CostMicros => Days.Sum(d => d.CostMicros);

    public long Calls => Days.Sum(d => d.Calls);
}

/// <summary>
/// The usage page's data, from the per-user daily rollups of the tenant in the caller's scope. Tenant
/// admins (and platform staff switched into the tenant) see the whole tenant; tenant members only the
/// calls they made themselves. All cost is shown, including calls on the tenant's own provider keys.
/// </summary>
public sealed class UsageQueries(IDbContextFactory<KeystoneDbContext> dbFactory, TenantContext tenant)
{
    /// <summary>True when the caller sees only their own calls.</summary>
    public bool OwnOnly => !tenant.IsPlatformUser && !tenant.User.IsInRole(Data.Identity.Roles.TenantAdmin);

    /// <summary>The tenant in scope, or null (platform users who have not switched into a tenant).</summary>
    public Guid? TenantId => tenant.TenantId;

    public async Task<TenantUsage?> UsageAsync(ReportRange range, CancellationToken ct)
    {
        if (tenant.TenantId is not { } tenantId)
        {
            return null;
        }

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var rows = UsageRollupRows.UserDays(db, range).Where(u => u.TenantId == tenantId);
        var ownOnly = OwnOnly;
        if (ownOnly)
        {
            var me = tenant.UserId ?? "";
            rows = rows.Where(u => u.UserId == me && me != "");
        }

        var daily = await rows.GroupBy(u => u.DayUtc)
            .Select(g => new { Day = g.Key, Calls = g.Sum(u => u.Calls), Errors = g.Sum(u => u.Errors), In = g.Sum(u => u.InputTokens),
                Out = g.Sum(u => u.OutputTokens), Cost = g.Sum(u => u.CostMicros) })
            .ToListAsync(ct);
        var byDay = daily.ToDictionary(d => UsageRollupRows.Utc(d.Day));
        var days = range.EachDay().Select(d => byDay.TryGetValue(d, out var x)
            ? new UsageDay(d, x.Calls, x.Errors, x.In, x.Out, x.Cost)
            : new UsageDay(d, 0, 0, 0, 0, 0)).ToList();

        var byFeature = await rows.GroupBy(u => u.Feature)
            .Select(g => new { g.Key, Calls = g.Sum(u => u.Calls), Errors = g.Sum(u => u.Errors), Cost = g.Sum(u => u.CostMicros) })
            .ToListAsync(ct);
        var byModel = await rows.GroupBy(u => u.Model)
            .Select(g => new { g.Key, Calls = g.Sum(u => u.Calls), Errors = g.Sum(u => u.Errors), Cost = g.Sum(u => u.CostMicros) })
            .ToListAsync(ct);
        var byUser = await rows.GroupBy(u => new { u.UserId, u.EndUser })
            .Select(g => new { g.Key.UserId, g.Key.EndUser, Calls = g.Sum(u => u.Calls), Errors = g.Sum(u => u.Errors), Cost = g.Sum(u => u.CostMicros) })
            .OrderByDescending(u => u.Cost).Take(20)
            .ToListAsync(ct);
        CacheSavings? cache = null;
        if (!ownOnly)
        {
            var tenantDays = UsageRollupRows.Days(db, range).Where(r => r.TenantId == tenantId);
            cache = new CacheSavings(await tenantDays.SumAsync(r => r.CacheHits, ct), await tenantDays.SumAsync(r => r.SavedCostMicros, ct));
        }

        var ids = byUser.Where(u => u.UserId != "").Select(u => u.UserId).Distinct().ToList();
        var names = await db.Users.AsNoTracking().Where(u => ids.Contains(u.Id)).ToDictionaryAsync(u => u.Id, u => u.Email ?? u.Id, ct);

        return new TenantUsage(ownOnly, days,
            byFeature.OrderByDescending(f => f.Cost).Select(f => new UsageSlice(f.Key, f.Key, f.Calls, f.Errors, f.Cost, 0)).ToList(),
            byModel.OrderByDescending(f => f.Cost).Select(f => new UsageSlice(f.Key, f.Key == "" ? UsageSlice.NoModelLabel : f.Key, f.Calls, f.Errors, f.Cost, 0)).ToList(),
            byUser.Select(u => new UsageSlice(u.UserId + "|" + u.EndUser,
                u.EndUser != "" ? u.EndUser : u.UserId != "" ? names.GetValueOrDefault(u.UserId, u.UserId) : "(no user: API calls)",
                u.Calls, u.Errors, u.Cost, 0)).ToList(),
            cache);
    }
}
