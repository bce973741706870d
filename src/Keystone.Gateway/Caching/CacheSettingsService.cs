using Keystone.Data;
using Keystone.Data.Caching;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Caching;

/// <summary>Reads and saves tenants' per-feature cache settings; a save is seen by the next call (the snapshot is dropped).</summary>
internal sealed class CacheSettingsService(
    KeystoneDbFactory dbFactory,
    TenantSettings settings,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock) : ICacheSettingsService
{
    public async Task<IReadOnlyList<FeatureCacheSettings>> ListAsync(Guid tenantId, IEnumerable<string> features, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var rows = await db.FeatureCacheSettings.AsNoTracking().Where(s => s.TenantId == tenantId).ToListAsync(ct);
        var platform = options.CurrentValue.Features;
        var names = features.Concat(rows.Select(r => r.Feature)).Concat(platform.Keys)
            .Where(f => !string.IsNullOrWhiteSpace(f))
            .Distinct(StringComparer.OrdinalIgnoreCase);
        return names.Select(f => rows.FirstOrDefault(r => r.Feature.Equals(f, StringComparison.OrdinalIgnoreCase)) is { } row
                ? new FeatureCacheSettings(row.Feature, row.Cache, row.CacheAtTemperatureZero, row.SemanticCache, row.SemanticThreshold, true, row.UpdatedUtc)
                : Platform(f, platform.GetValueOrDefault(f)))
            .OrderBy(s => s.Feature, StringComparer.OrdinalIgnoreCase)
            .ToList();
    }

    public async Task<FeatureCacheSettings> SetAsync(Guid tenantId, FeatureCacheSettings input, string? userId, CancellationToken ct)
    {
        var feature = input.Feature.Trim();
        if (!FeatureLabel.IsValid(feature))
        {
            throw new CacheSettingsValidationException($"A feature is {FeatureLabel.Rule} (as calls label it).", "feature");
        }

        if (input.SemanticThreshold is < 0.5 or > 1 || double.IsNaN(input.SemanticThreshold))
        {
            throw new CacheSettingsValidationException("The similarity threshold must be between 0.50 and 1.00.", "semanticThreshold");
        }

        var o = options.CurrentValue;
        if (input.SemanticCache && !o.HasEmbeddingModel)
        {
            throw new CacheSettingsValidationException(
                $"Similar-question caching needs an embedding model, and this platform has none configured (Gateway:SemanticCacheAlias '{o.SemanticCacheAlias}'). Ask the platform's operators.",
                "semanticCache");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            // Few rows per tenant: matched in memory so "FAQ" and "faq" stay one setting, as the gateway reads them.
            var row = (await db.FeatureCacheSettings.Where(s => s.TenantId == tenantId).ToListAsync(ct))
                .FirstOrDefault(r => r.Feature.Equals(feature, StringComparison.OrdinalIgnoreCase));
            if (row is null)
            {
                row = new FeatureCacheSetting { TenantId = tenantId, Feature = feature };
                db.FeatureCacheSettings.Add(row);
            }

            row.Cache = input.CacheEveryRequest;
            row.CacheAtTemperatureZero = input.CacheAtTemperatureZero;
            row.SemanticCache = input.SemanticCache;
            row.SemanticThreshold = Math.Round(input.SemanticThreshold, 4);
            row.UpdatedUtc = now;
            row.UpdatedByUserId = userId;
            await db.SaveChangesAsync(ct);
            settings.Invalidate(tenantId);
            return new FeatureCacheSettings(row.Feature, row.Cache, row.CacheAtTemperatureZero, row.SemanticCache, row.SemanticThreshold, true, row.UpdatedUtc);
        }
    }

    public async Task<bool> ResetAsync(Guid tenantId, string feature, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var rows = (await db.FeatureCacheSettings.Where(s => s.TenantId == tenantId).ToListAsync(ct))
            .Where(r => r.Feature.Equals(feature.Trim(), StringComparison.OrdinalIgnoreCase)).ToList();
        if (rows.Count == 0)
        {
            return false;
        }

        db.FeatureCacheSettings.RemoveRange(rows);
        await db.SaveChangesAsync(ct);
        settings.Invalidate(tenantId);
        return true;
    }

    private static FeatureCacheSettings Platform(string feature, FeatureOptions? o)
    {
        o ??= new FeatureOptions();
        return new FeatureCacheSettings(feature, o.Cache, o.CacheAtTemperatureZero, o.SemanticCache, o.SemanticThreshold, false, null);
    }
}
