using System.Collections.Concurrent;
using Keystone.Data;
using Keystone.Data.Credentials;
using Keystone.Gateway.Pipeline;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Credentials;

/// <summary>A tenant's stored provider key as people may see it: masked, never the secret.</summary>
/// <param name="Provider">Provider name.</param>
/// <param name="Masked">The key masked to its last four characters (<c>…a1b2</c>).</param>
/// <param name="BaseUrl">Alternative base URL, if any.</param>
/// <param name="UpdatedUtc">When it was last set.</param>
public sealed record ProviderCredentialInfo(string Provider, string Masked, string? BaseUrl, DateTime UpdatedUtc);

/// <summary>
/// BYOK: tenants' own provider keys, encrypted with ASP.NET Core Data Protection. The gateway decrypts a key only
/// for the call that uses it; calls made with it are billed to the tenant's key.
/// </summary>
public sealed class ProviderCredentialStore(
    KeystoneDbFactory dbFactory,
    IDataProtectionProvider protection,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock)
{
    private readonly IDataProtector _protector = protection.CreateProtector("Keystone.Gateway.ProviderCredentials.v1");
    private readonly ConcurrentDictionary<Guid, (DateTime ExpiresUtc, IReadOnlyDictionary<string, (string Protected, string? BaseUrl)> Keys)> _cache = new();

    /// <summary>Sets (or replaces) the tenant's key for <paramref name="provider"/>.</summary>
    public async Task<ProviderCredentialInfo> SetAsync(Guid tenantId, string provider, string apiKey, Uri? baseUrl, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(provider) || provider.Length > 64)
        {
            throw new ArgumentException("A provider name (up to 64 characters) is required.", nameof(provider));
        }

        if (string.IsNullOrWhiteSpace(apiKey) || apiKey.Length < 8)
        {
            throw new ArgumentException("The API key is too short.", nameof(apiKey));
        }

        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForTenant(tenantId);
        var row = await db.ProviderCredentials.FirstOrDefaultAsync(c => c.TenantId == tenantId && c.Provider == provider, ct);
        if (row is null)
        {
            row = new ProviderCredential { Id = Guid.CreateVersion7(), TenantId = tenantId, Provider = provider, CreatedUtc = now };
            db.ProviderCredentials.Add(row);
        }

        row.ProtectedSecret = _protector.Protect(apiKey.Trim());
        row.Last4 = apiKey.Trim()[^4..];
        row.BaseUrl = baseUrl?.ToString();
        row.UpdatedUtc = now;
        await db.SaveChangesAsync(ct);
        _cache.TryRemove(tenantId, out _);
        return new ProviderCredentialInfo(provider, "…" + row.Last4, row.BaseUrl, now);
    }

    public async Task<bool> RemoveAsync(Guid tenantId, string provider, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        var n = await db.ProviderCredentials.Where(c => c.TenantId == tenantId && c.Provider == provider).ExecuteDeleteAsync(ct);
        _cache.TryRemove(tenantId, out _);
        return n > 0;
    }

    /// <summary>The tenant's keys, masked.</summary>
    public async Task<IReadOnlyList<ProviderCredentialInfo>> ListAsync(Guid tenantId, CancellationToken ct)
    {
        await using var db = dbFactory.ForTenant(tenantId);
        return await db.ProviderCredentials.AsNoTracking().Where(c => c.TenantId == tenantId).OrderBy(c => c.Provider)
            .Select(c => new ProviderCredentialInfo(c.Provider, "…" + c.Last4, c.BaseUrl, c.UpdatedUtc)).ToListAsync(ct);
    }

    /// <summary>The decrypted credentials for one call, or null when the tenant has no key for the provider.</summary>
    public async Task<ProviderCredentials?> GetForCallAsync(Guid tenantId, string provider, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (!_cache.TryGetValue(tenantId, out var entry) || entry.ExpiresUtc <= now)
        {
            await using var db = dbFactory.ForTenant(tenantId);
            var rows = await db.ProviderCredentials.AsNoTracking().Where(c => c.TenantId == tenantId)
                .Select(c => new { c.Provider, c.ProtectedSecret, c.BaseUrl }).ToListAsync(ct);
            entry = (now + options.CurrentValue.SettingsCacheTtl,
                rows.ToDictionary(r => r.Provider, r => (r.ProtectedSecret, r.BaseUrl), StringComparer.OrdinalIgnoreCase));
            _cache[tenantId] = entry;
        }

        if (!entry.Keys.TryGetValue(provider, out var key))
        {
            return null;
        }

        return new ProviderCredentials(_protector.Unprotect(key.Protected), key.BaseUrl is null ? null : new Uri(key.BaseUrl));
    }
}
