using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Gateway;
using Keystone.Web.Features.Usage;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Caching;

/// <summary>One feature on the caching page: how its calls use the caches and what the caches did for it.</summary>
/// <param name="Settings">The effective settings (the tenant's own, or the platform's).</param>
/// <param name="Calls">Calls of the feature in the last <see cref="CachingService.Days"/> days.</param>
/// <param name="CacheHits">Of those, answered from a cache.</param>
/// <param name="SavedMicros">What the cache hits would have cost.</param>
internal sealed record CachingRow(FeatureCacheSettings Settings, long Calls, long CacheHits, long SavedMicros)
{
    /// <summary>Share of the calls answered from cache (0..1); null without calls.</summary>
    public double? HitRate => Calls == 0 ? null : (double)CacheHits / Calls;
}

/// <summary>
/// The tenant admin's caching page: per feature, whether calls are answered from the exact cache (every request, or
/// only temperature-0 ones) and by similar question, with the last 30 days' hits and savings from the day rollups.
/// Changes go through the gateway's <see cref="ICacheSettingsService"/> (the next call sees them) and are audited.
/// </summary>
internal sealed class CachingService(
    KeystoneDbFactory dbFactory,
    TenantContext tenant,
    ICacheSettingsService settings,
    AuditLog audit,
    TimeProvider clock)
{
    /// <summary>Days of history the page shows per feature.</summary>
    public const int Days = 30;

    /// <summary>The tenant in scope, or null (platform users who have not switched into a tenant).</summary>
    public Guid? TenantId => tenant.TenantId;

    /// <summary>Every feature the tenant called in the last <see cref="Days"/> days or has settings for, busiest first.</summary>
    public async Task<IReadOnlyList<CachingRow>> ListAsync(CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var range = ReportRange.LastDays(clock.GetUtcNow().UtcDateTime, Days);
        await using var db = dbFactory.ForTenant(tenantId);
        var used = await UsageRollupRows.Days(db, range).Where(r => r.TenantId == tenantId)
            .GroupBy(r => r.Feature)
            .Select(g => new { Feature = g.Key, Calls = g.Sum(r => r.Calls), Hits = g.Sum(r => r.CacheHits), Saved = g.Sum(r => r.SavedCostMicros) })
            .ToListAsync(ct);
        var list = await settings.ListAsync(tenantId, used.Select(u => u.Feature), ct);
        return list.Select(s =>
            {
                var u = used.Where(x => x.Feature.Equals(s.Feature, StringComparison.OrdinalIgnoreCase)).ToList();
                return new CachingRow(s, u.Sum(x => x.Calls), u.Sum(x => x.Hits), u.Sum(x => x.Saved));
            })
            .OrderByDescending(r => r.Calls).ThenBy(r => r.Settings.Feature, StringComparer.OrdinalIgnoreCase)
            .ToList();
    }

    /// <summary>The settings that apply to a feature now (the tenant's own, the platform's, or the defaults for an unconfigured one).</summary>
    public async Task<FeatureCacheSettings> EffectiveAsync(string feature, CancellationToken ct)
        => (await settings.ListAsync(RequireTenant(), [feature], ct)).FirstOrDefault(s => s.Feature.Equals(feature, StringComparison.OrdinalIgnoreCase))
            ?? throw new CacheSettingsValidationException($"A feature is {FeatureLabel.Rule} (as calls label it).", "feature");

    /// <summary>Saves the tenant's own settings for one feature (audited with the old and new values).</summary>
    public async Task<FeatureCacheSettings> SaveAsync(FeatureCacheSettings input, FeatureCacheSettings? before, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var saved = await settings.SetAsync(tenantId, input, tenant.UserId, ct);
        await audit.WriteAsync("cache.settings", $"feature:{saved.Feature}", tenantId, new
        {
            before = before is null ? null : Describe(before),
            after = Describe(saved),
        }, ct);
        return saved;
    }

    /// <summary>Drops the tenant's settings for a feature: the platform's apply again.</summary>
    public async Task<bool> ResetAsync(string feature, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var removed = await settings.ResetAsync(tenantId, feature, ct);
        if (removed)
        {
            await audit.WriteAsync("cache.settings.reset", $"feature:{feature}", tenantId, null, ct);
        }

        return removed;
    }

    private static object Describe(FeatureCacheSettings s) => new
    {
        cacheEveryRequest = s.CacheEveryRequest,
        cacheAtTemperatureZero = s.CacheAtTemperatureZero,
        semanticCache = s.SemanticCache,
        semanticThreshold = s.SemanticThreshold,
        source = s.IsTenantSetting ? "tenant" : "platform",
    };

    private Guid RequireTenant() => tenant.TenantId
        ?? throw new CacheSettingsValidationException("Switch into a tenant first: cache settings belong to one tenant.", "tenant");
}
