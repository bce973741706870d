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

        var threshold = Math.Round(input.SemanticThreshold, 4);
        FeatureCacheSettings saved;
        try
        {
            saved = await WriteConflicts.RetryAsync(() => UpsertAsync(tenantId, feature, input, threshold, userId, ct));
        }
        catch (Exception ex) when (WriteConflicts.IsConflict(ex))
        {
            throw new GatewayException(new GatewayError(GatewayErrorCodes.Conflict,
                $"Another change to the cache settings of '{feature}' was being saved at the same time. Nothing was changed by this one: read them again and retry.", 409));
        }

        settings.Invalidate(tenantId);
        return saved;
    }

    // One transaction: find how the feature is spelled if a row exists ("FAQ" and "faq" are one setting, as the gateway
    // reads them), then an atomic upsert on that spelling. Concurrent saves of the same feature never fail on the primary
    // key (issue 20, item 6): the statement updates the row another writer just inserted; the last save wins whole.
    private async Task<FeatureCacheSettings> UpsertAsync(Guid tenantId, string feature, FeatureCacheSettings input, double threshold, string? userId,
        CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(tenantId);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var spelled = (await db.FeatureCacheSettings.AsNoTracking().Where(s => s.TenantId == tenantId).Select(s => s.Feature).ToListAsync(ct))
            .FirstOrDefault(f => f.Equals(feature, StringComparison.OrdinalIgnoreCase)) ?? feature;
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO feature_cache_settings (tenant_id, feature, cache, cache_at_temperature_zero, semantic_cache, semantic_threshold, updated_utc, updated_by_user_id)
            VALUES ({tenantId}, {spelled}, {input.CacheEveryRequest}, {input.CacheAtTemperatureZero}, {input.SemanticCache}, {threshold}, {now}, {userId})
            ON CONFLICT (tenant_id, feature) DO UPDATE SET cache = excluded.cache, cache_at_temperature_zero = excluded.cache_at_temperature_zero,
              semantic_cache = excluded.semantic_cache, semantic_threshold = excluded.semantic_threshold, updated_utc = excluded.updated_utc,
              updated_by_user_id = excluded.updated_by_user_id
            """, ct);
        await tx.CommitAsync(ct);
        return new FeatureCacheSettings(spelled, input.CacheEveryRequest, input.CacheAtTemperatureZero, input.SemanticCache, threshold, true, now);
    }

    public async Task<bool> ResetAsync(Guid tenantId, string feature, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var names = (await db.FeatureCacheSettings.AsNoTracking().Where(s => s.TenantId == tenantId).Select(s => s.Feature).ToListAsync(ct))
            .Where(f => f.Equals(feature.Trim(), StringComparison.OrdinalIgnoreCase)).ToList();
        // A set delete counts what it removed: of two concurrent resets only one removes the row and answers true
        // (tracked entities would make the other fail on a row that is already gone).
        var removed = names.Count == 0 ? 0
            : await db.FeatureCacheSettings.Where(s => s.TenantId == tenantId && names.Contains(s.Feature)).ExecuteDeleteAsync(ct);
        if (removed == 0)
        {
            return false;
        }

        settings.Invalidate(tenantId);
        return true;
    }

    private static FeatureCacheSettings Platform(string feature, FeatureOptions? o)
    {
        o ??= new FeatureOptions();
        return new FeatureCacheSettings(feature, o.Cache, o.CacheAtTemperatureZero, o.SemanticCache, o.SemanticThreshold, false, null);
    }
}
