using System.Collections.Concurrent;
using Keystone.Data;
using Keystone.Data.Credentials;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Providers;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Credentials;

/// <summary>A tenant's stored provider key as people may see it: masked, never the secret.</summary>
/// <param name="Provider">Provider name.</param>
/// <param name="Masked">The key masked to its last four characters (<c>…a1b2</c>).</param>
/// <param name="BaseUrl">Alternative base URL, if any.</param>
/// <param name="UpdatedUtc">When it was last set.</param>
/// <param name="CheckedUtc">When it was last tried against its provider; null if never (keys saved before checks existed).</param>
/// <param name="CheckResult">That check's result code (<see cref="ProviderKeyCheck.Code"/>), or null.</param>
/// <param name="CheckReason">Why it was rejected or unverified, in words, or null.</param>
public sealed record ProviderCredentialInfo(string Provider, string Masked, string? BaseUrl, DateTime UpdatedUtc,
    DateTime? CheckedUtc = null, string? CheckResult = null, string? CheckReason = null)
{
    /// <summary>Whether the last check found the key accepted by its provider.</summary>
    public bool Verified => CheckResult == ProviderKeyCheck.CodeOf(ProviderKeyCheckResult.Accepted);
}

/// <summary>
/// BYOK: tenants' own provider keys, encrypted with ASP.NET Core Data Protection. The gateway decrypts a key only
/// for the call that uses it; calls made with it are billed to the tenant's key.
/// </summary>
public sealed class ProviderCredentialStore
{
    private readonly KeystoneDbFactory _dbFactory;
    private readonly IOptionsMonitor<GatewayOptions> _options;
    private readonly TimeProvider _clock;
    private readonly ITenantSettingsCache _settings;
    private readonly IDataProtector _protector;
    private readonly ConcurrentDictionary<Guid, (DateTime ExpiresUtc, IReadOnlyDictionary<string, (string Protected, string? BaseUrl)> Keys)> _cache = new();

    // Bumped by every change: a load that started before one does not put what it read back into the cache.
    private long _generation;

    /// <summary>The BYOK store; its cache follows <paramref name="settings"/>, so a key saved on another instance applies here at once.</summary>
    public ProviderCredentialStore(KeystoneDbFactory dbFactory, IDataProtectionProvider protection, IOptionsMonitor<GatewayOptions> options,
        TimeProvider clock, ITenantSettingsCache settings)
    {
        _dbFactory = dbFactory;
        _options = options;
        _clock = clock;
        _settings = settings;
        _protector = protection.CreateProtector("Keystone.Gateway.ProviderCredentials.v1");
        settings.Changed += DropCached;
    }

    /// <summary>Sets (or replaces) the tenant's key for <paramref name="provider"/> without trying it (platform-side seeding).</summary>
    public Task<ProviderCredentialInfo> SetAsync(Guid tenantId, string provider, string apiKey, Uri? baseUrl, CancellationToken ct)
        => SetAsync(tenantId, provider, apiKey, baseUrl, null, ct);

    /// <summary>Sets (or replaces) the tenant's key for <paramref name="provider"/>, with the check it passed when one was made.</summary>
    public async Task<ProviderCredentialInfo> SetAsync(Guid tenantId, string provider, string apiKey, Uri? baseUrl, ProviderKeyCheck? check,
        CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(provider) || provider.Length > 64)
        {
            throw new ArgumentException("A provider name (up to 64 characters) is required.", nameof(provider));
        }

        if (string.IsNullOrWhiteSpace(apiKey) || apiKey.Length < 8)
        {
            throw new ArgumentException("The API key is too short.", nameof(apiKey));
        }

        var now = _clock.GetUtcNow().UtcDateTime;
        var secret = apiKey.Trim();
        var protectedSecret = _protector.Protect(secret);
        var last4 = secret[^4..];
        var url = baseUrl?.ToString();
        DateTime? checkedUtc = check is null ? null : now;
        var checkResult = check?.Code;
        var checkReason = check?.Reason;
        try
        {
            // One atomic upsert (the same SQL on SQLite and PostgreSQL): concurrent saves for one provider never fail on
            // the unique index (issue 20, item 6); the key stored is the one of the save that committed last.
            await WriteConflicts.RetryAsync(async () =>
            {
                await using var db = _dbFactory.ForTenant(tenantId);
                await db.Database.ExecuteSqlAsync($"""
                    INSERT INTO provider_credentials (id, tenant_id, provider, protected_secret, last4, base_url, created_utc, updated_utc,
                      checked_utc, check_result, check_reason)
                    VALUES ({Guid.CreateVersion7()}, {tenantId}, {provider}, {protectedSecret}, {last4}, {url}, {now}, {now},
                      {checkedUtc}, {checkResult}, {checkReason})
                    ON CONFLICT (tenant_id, provider) DO UPDATE SET protected_secret = excluded.protected_secret, last4 = excluded.last4,
                      base_url = excluded.base_url, updated_utc = excluded.updated_utc, checked_utc = excluded.checked_utc,
                      check_result = excluded.check_result, check_reason = excluded.check_reason
                    """, ct);
            });
        }
        catch (Exception ex) when (WriteConflicts.IsConflict(ex))
        {
            throw new GatewayException(new GatewayError(GatewayErrorCodes.Conflict,
                $"Another key for '{provider}' was being saved at the same time. Nothing was changed by this one: look at the stored key and retry.", 409));
        }

        _settings.Invalidate(tenantId);
        return new ProviderCredentialInfo(provider, "…" + last4, url, now, checkedUtc, checkResult, checkReason);
    }

    /// <summary>
    /// Records a later check ("Test again") of the stored key; false when the key is gone. A key replaced since the
    /// check began keeps its own result: the update matches the last four characters that were tried.
    /// </summary>
    public async Task<ProviderCredentialInfo?> RecordCheckAsync(Guid tenantId, string provider, string last4, ProviderKeyCheck check, CancellationToken ct)
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        await using var db = _dbFactory.ForTenant(tenantId);
        var n = await db.ProviderCredentials.Where(c => c.TenantId == tenantId && c.Provider == provider && c.Last4 == last4)
            .ExecuteUpdateAsync(u => u.SetProperty(c => c.CheckedUtc, now).SetProperty(c => c.CheckResult, check.Code)
                .SetProperty(c => c.CheckReason, check.Reason), ct);
        return n == 0 ? null : (await ListAsync(tenantId, ct)).FirstOrDefault(c => c.Provider == provider);
    }

    public async Task<bool> RemoveAsync(Guid tenantId, string provider, CancellationToken ct)
    {
        await using var db = _dbFactory.ForTenant(tenantId);
        var n = await db.ProviderCredentials.Where(c => c.TenantId == tenantId && c.Provider == provider).ExecuteDeleteAsync(ct);
        _settings.Invalidate(tenantId);
        return n > 0;
    }

    /// <summary>The tenant's keys, masked.</summary>
    public async Task<IReadOnlyList<ProviderCredentialInfo>> ListAsync(Guid tenantId, CancellationToken ct)
    {
        await using var db = _dbFactory.ForTenant(tenantId);
        return await db.ProviderCredentials.AsNoTracking().Where(c => c.TenantId == tenantId).OrderBy(c => c.Provider)
            .Select(c => new ProviderCredentialInfo(c.Provider, "…" + c.Last4, c.BaseUrl, c.UpdatedUtc, c.CheckedUtc, c.CheckResult, c.CheckReason))
            .ToListAsync(ct);
    }

    /// <summary>The decrypted credentials for one call, or null when the tenant has no key for the provider.</summary>
    public async Task<ProviderCredentials?> GetForCallAsync(Guid tenantId, string provider, CancellationToken ct)
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        if (!_cache.TryGetValue(tenantId, out var entry) || entry.ExpiresUtc <= now)
        {
            var generation = Interlocked.Read(ref _generation);
            await using var db = _dbFactory.ForTenant(tenantId);
            var rows = await db.ProviderCredentials.AsNoTracking().Where(c => c.TenantId == tenantId)
                .Select(c => new { c.Provider, c.ProtectedSecret, c.BaseUrl }).ToListAsync(ct);
            entry = (now + _options.CurrentValue.SettingsCacheTtl,
                rows.ToDictionary(r => r.Provider, r => (r.ProtectedSecret, r.BaseUrl), StringComparer.OrdinalIgnoreCase));
            if (Interlocked.Read(ref _generation) == generation)
            {
                _cache[tenantId] = entry;
            }
        }

        if (!entry.Keys.TryGetValue(provider, out var key))
        {
            return null;
        }

        return new ProviderCredentials(_protector.Unprotect(key.Protected), key.BaseUrl is null ? null : new Uri(key.BaseUrl));
    }

    private void DropCached(Guid tenantId)
    {
        Interlocked.Increment(ref _generation);
        if (tenantId == Guid.Empty)
        {
            _cache.Clear();
        }
        else
        {
            _cache.TryRemove(tenantId, out _);
        }
    }
}
