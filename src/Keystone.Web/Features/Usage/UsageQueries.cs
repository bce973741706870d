using System.Globalization;
using Keystone.Data;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Usage;

/// <summary>One day of a tenant's (or a member's own) usage.</summary>
internal sealed record UsageDay(DateTime Day, long Calls, long Errors, long InputTokens, long OutputTokens, long CostMicros);

/// <summary>What the caches answered in a range: hits and the cost they saved.</summary>
internal sealed record CacheSavings(long Hits, long SavedMicros);

/// <summary>A tenant's usage as its own people see it: never revenue, never other tenants.</summary>
/// <param name="OwnOnly">True when the viewer is a tenant member who sees only their own calls.</param>
/// <param name="Cache">
/// Calls the exact or semantic cache answered and what they would have cost, for the whole tenant; null for a
/// member who sees only their own calls (the cache rollups are not kept per user).
/// </param>
internal sealed record TenantUsage(
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
/// The usage page's data for the tenant in the caller's scope, read through <see cref="UsageReader"/> (the same sums
/// <c>GET /api/v1/usage</c> answers), so it counts the calls since the last rollup run too. Tenant admins (and platform
/// staff switched into the tenant) see the whole tenant; tenant members only the calls they made themselves. All cost is
/// shown, including calls on the tenant's own provider keys.
/// </summary>
internal sealed class UsageQueries(IDbContextFactory<KeystoneDbContext> dbFactory, TenantContext tenant, UsageReader reader)
{
    /// <summary>Rows of the user table.</summary>
    private const int TopUsers = 20;

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

        var ownOnly = OwnOnly;
        // A member's own calls are those of their console user; without one they have none.
        var scope = new UsageScope(tenantId, range.FromUtc, range.ToUtc, ownOnly ? tenant.UserId ?? "" : null);
        var read = await reader.ReadAsync(scope,
            [UsageGrouping.Day, UsageGrouping.Feature, UsageGrouping.ModelName, UsageGrouping.Member], ct);

        var byDay = read[UsageGrouping.Day].ToDictionary(d => d.Key, StringComparer.Ordinal);
        var days = range.EachDay().Select(d => byDay.TryGetValue(d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), out var x)
            ? new UsageDay(d, x.Calls, x.Errors, x.InputTokens, x.OutputTokens, x.CostMicros)
            : new UsageDay(d, 0, 0, 0, 0, 0)).ToList();
        var byUser = read[UsageGrouping.Member].OrderByDescending(u => u.CostMicros).ThenBy(u => u.Key, StringComparer.Ordinal)
            .Take(TopUsers)
            .Select(u => (Totals: u, UserId: u.Key[..u.Key.IndexOf('|', StringComparison.Ordinal)], EndUser: u.Key[(u.Key.IndexOf('|', StringComparison.Ordinal) + 1)..]))
            .ToList();
        // The tenant-wide day sums carry the cache numbers; the per-user rollup a member's view reads does not keep them.
        var cache = ownOnly ? null : new CacheSavings(read[UsageGrouping.Day].Sum(d => d.CacheHits), read[UsageGrouping.Day].Sum(d => d.SavedCostMicros));

        // A member reads by name, not by console user id (issue 21); the e-mail when no name was given.
        var ids = byUser.Where(u => u.UserId != "").Select(u => u.UserId).Distinct().ToList();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var names = await db.Users.AsNoTracking().Where(u => ids.Contains(u.Id)).ToDictionaryAsync(u => u.Id, u => u.DisplayName != "" ? u.DisplayName : u.Email ?? u.Id, ct);

        return new TenantUsage(ownOnly, days,
            read[UsageGrouping.Feature].OrderByDescending(f => f.CostMicros).Select(f => new UsageSlice(f.Key, f.Key, f.Calls, f.Errors, f.CostMicros, 0)).ToList(),
            read[UsageGrouping.ModelName].OrderByDescending(f => f.CostMicros)
                .Select(f => new UsageSlice(f.Key, f.Key == "" ? UsageSlice.NoModelLabel : f.Key, f.Calls, f.Errors, f.CostMicros, 0)).ToList(),
            byUser.Select(u => new UsageSlice(u.Totals.Key,
                u.EndUser != "" ? u.EndUser : u.UserId != "" ? names.GetValueOrDefault(u.UserId, u.UserId) : "(no user: API calls)",
                u.Totals.Calls, u.Totals.Errors, u.Totals.CostMicros, 0)).ToList(),
            cache);
    }
}
