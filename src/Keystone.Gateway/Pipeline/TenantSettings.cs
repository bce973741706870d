using System.Collections.Concurrent;
using System.Text.Json;
using Keystone.Data;
using Keystone.Gateway.Budgets;
using Keystone.Gateway.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>One cap as the pipeline needs it.</summary>
internal sealed record CapRow(Guid BudgetId, BudgetScope Scope, string Key, BudgetPeriod Period, long LimitMicros);

/// <summary>What the pipeline needs to know about a tenant, loaded together and cached briefly.</summary>
internal sealed record TenantSnapshot(
    IReadOnlySet<string>? AllowedModels,
    IReadOnlyDictionary<string, IReadOnlyList<ModelTarget>> AliasOverrides,
    IReadOnlyList<CapRow> Caps,
    IReadOnlyList<int> SoftThresholdsPercent,
    BudgetAction ActionAtLimit,
    int? PlanRequestsPerMinute,
    IReadOnlyDictionary<Guid, int?> ApiKeyRequestsPerMinute,
    IReadOnlyDictionary<string, FeatureOptions> FeatureCache,
    int? UserRequestsPerMinute);

/// <summary>
/// Caches each tenant's settings for <see cref="GatewayOptions.SettingsCacheTtl"/> so the hot path reads no
/// database when nothing changed. Every write of a setting drops the tenant's copy here (the next call loads anew)
/// and, through the <see cref="SettingsChangeFeed"/>, on the other instances within moments; the TTL only bounds
/// staleness when that feed is down. Limits are enforced in SQL from the rows themselves in PostgreSQL mode, so a
/// stale snapshot can at worst miss a cap created in the last moment, never overspend an existing one.
/// </summary>
internal sealed class TenantSettings : ITenantSettingsCache
{
    private readonly ConcurrentDictionary<Guid, Entry> _cache = new();
    private readonly KeystoneDbFactory _dbFactory;
    private readonly IOptionsMonitor<GatewayOptions> _options;
    private readonly TimeProvider _clock;
    private readonly SettingsChangeFeed _feed;

    public TenantSettings(KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> options, TimeProvider clock, SettingsChangeFeed feed)
    {
        _dbFactory = dbFactory;
        _options = options;
        _clock = clock;
        _feed = feed;
        // Another instance changed a tenant's settings: drop the copy here, as its own writer did there.
        feed.Received += Drop;
    }

    /// <inheritdoc/>
    public event Action<Guid>? Changed;

    private sealed class Entry(DateTime expiresUtc, Task<TenantSnapshot> snapshot)
    {
        public DateTime ExpiresUtc { get; } = expiresUtc;
        public Task<TenantSnapshot> Snapshot { get; } = snapshot;
        public int Refreshing;
    }

    public Task<TenantSnapshot> GetAsync(Guid tenantId, CancellationToken ct)
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        if (_cache.TryGetValue(tenantId, out var entry))
        {
            if (entry.Snapshot.IsCompletedSuccessfully)
            {
                // Stale-while-revalidate: an expired snapshot is still served while one background load replaces it,
                // so no call waits on the five settings queries every TTL (that wait was the gateway's p99 tail).
                if (entry.ExpiresUtc <= now && Interlocked.Exchange(ref entry.Refreshing, 1) == 0)
                {
                    _ = RefreshAsync(tenantId, entry);
                }

                return entry.Snapshot;
            }

            if (!entry.Snapshot.IsCompleted)
            {
                return entry.Snapshot;
            }
        }

        var load = LoadAsync(tenantId, ct);
        _cache[tenantId] = new Entry(now + _options.CurrentValue.SettingsCacheTtl, load);
        return load;
    }

    /// <inheritdoc/>
    public void Invalidate(Guid tenantId)
    {
        Drop(tenantId);
        _feed.Publish(tenantId);
    }

    private void Drop(Guid tenantId)
    {
        if (tenantId == Guid.Empty)
        {
            _cache.Clear();
        }
        else
        {
            _cache.TryRemove(tenantId, out _);
        }

        Changed?.Invoke(tenantId);
    }

    private async Task RefreshAsync(Guid tenantId, Entry stale)
    {
        try
        {
            var fresh = await LoadAsync(tenantId, CancellationToken.None);
            // Only replaces the entry it refreshed: an Invalidate in the meantime wins, and the next call loads anew.
            _cache.TryUpdate(tenantId, new Entry(_clock.GetUtcNow().UtcDateTime + _options.CurrentValue.SettingsCacheTtl, Task.FromResult(fresh)), stale);
        }
        catch (Exception)
        {
            // The database was briefly unavailable: keep serving the last snapshot and try again on the next call.
            Volatile.Write(ref stale.Refreshing, 0);
        }
    }

    private async Task<TenantSnapshot> LoadAsync(Guid tenantId, CancellationToken ct)
    {
        await using var db = _dbFactory.ForTenant(tenantId);
        var policy = await db.TenantModelPolicies.AsNoTracking().FirstOrDefaultAsync(p => p.TenantId == tenantId, ct);
        var caps = await db.Budgets.AsNoTracking().Where(b => b.TenantId == tenantId)
            .Select(b => new { b.Id, b.Scope, b.Key, b.Period, b.LimitMicros }).ToListAsync(ct);
        var settings = await db.BudgetSettings.AsNoTracking().FirstOrDefaultAsync(s => s.TenantId == tenantId, ct);
        var planRpm = await db.Tenants.AsNoTracking().Where(t => t.Id == tenantId)
            .Select(t => (int?)t.Plan!.DefaultRequestsPerMinute).FirstOrDefaultAsync(ct);
        var keys = await db.ApiKeys.AsNoTracking().Where(k => k.TenantId == tenantId)
            .Select(k => new { k.Id, k.RequestsPerMinute }).ToListAsync(ct);
        var featureCache = await db.FeatureCacheSettings.AsNoTracking().Where(f => f.TenantId == tenantId).ToListAsync(ct);

        var overrides = new Dictionary<string, IReadOnlyList<ModelTarget>>(StringComparer.OrdinalIgnoreCase);
        if (!string.IsNullOrWhiteSpace(policy?.AliasOverridesJson))
        {
            var raw = JsonSerializer.Deserialize<Dictionary<string, List<string>>>(policy.AliasOverridesJson) ?? [];
            foreach (var (alias, targets) in raw)
            {
                var parsed = targets.Select(t => ModelTarget.TryParse(t, out var m) ? m : null).OfType<ModelTarget>().ToList();
                if (parsed.Count > 0)
                {
                    overrides[alias] = parsed;
                }
            }
        }

        var allowed = policy?.AllowedModels is { } a
            ? a.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.OrdinalIgnoreCase)
            : null;

        return new TenantSnapshot(
            allowed,
            overrides,
            caps.Select(c => new CapRow(c.Id, BudgetText.ParseScope(c.Scope), c.Key, BudgetText.ParsePeriod(c.Period), c.LimitMicros))
                .OrderBy(c => c.BudgetId).ToList(),
            settings is null ? _options.CurrentValue.DefaultSoftThresholdsPercent : BudgetText.ParseThresholds(settings.SoftThresholdsPercent),
            settings is null ? BudgetAction.Block : BudgetText.ParseAction(settings.ActionAtLimit),
            planRpm,
            keys.ToDictionary(k => k.Id, k => k.RequestsPerMinute),
            featureCache.GroupBy(f => f.Feature, StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => g.Select(f => new FeatureOptions
            {
                Cache = f.Cache,
                CacheAtTemperatureZero = f.CacheAtTemperatureZero,
                SemanticCache = f.SemanticCache,
                SemanticThreshold = f.SemanticThreshold,
            }).First(), StringComparer.OrdinalIgnoreCase),
            // From the budget settings row already read above: the hot path gains no query.
            settings?.UserRequestsPerMinute);
    }
}
