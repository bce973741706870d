using System.Collections.Concurrent;
using System.Security.Cryptography;
using Keystone.Data;
using Keystone.Data.Keys;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Keystone.Web.Features.Keys;

/// <summary>
/// Resolves a presented API key to its <see cref="ApiKeyIdentity"/> on the hot path. Answers (including
/// "no such key") are cached by the key's SHA-256 for <see cref="ApiKeysOptions.LookupCacheTtl"/>, so a
/// burst of requests costs one database read. A key changed (revoked, rotated, narrowed) stops working as it was at
/// once on the instance that changed it, and on the others as soon as the gateway's settings feed brings the news
/// (<see cref="ITenantSettingsCache.Changed"/>: every cached answer of that tenant is dropped); the TTL bounds it
/// when that feed is down.
/// </summary>
internal sealed class ApiKeyLookup : IDisposable
{
    private const string CachePrefix = "apikey:";

    private readonly KeystoneDbFactory dbFactory;
    private readonly IMemoryCache cache;
    private readonly IOptionsMonitor<ApiKeysOptions> options;
    private readonly ITenantSettingsCache settings;

    // One token per tenant that expires its cached answers together when the tenant's settings change.
    private readonly ConcurrentDictionary<Guid, CancellationTokenSource> _tenantTokens = new();
    private CancellationTokenSource _everyTenant = new();
    private long _changes;

    public ApiKeyLookup(KeystoneDbFactory dbFactory, IMemoryCache cache, IOptionsMonitor<ApiKeysOptions> options, ITenantSettingsCache settings)
    {
        this.dbFactory = dbFactory;
        this.cache = cache;
        this.options = options;
        this.settings = settings;
        settings.Changed += DropTenant;
    }

    public void Dispose()
    {
        settings.Changed -= DropTenant;
        _everyTenant.Dispose();
        foreach (var tokens in _tenantTokens.Values)
        {
            tokens.Dispose();
        }
    }

    // Keys are "ks_" + 43 base64url characters; anything much longer is not a key and is not hashed.
    private const int MaxKeyLength = 200;

    /// <summary>
    /// The identity of <paramref name="presentedKey"/>, or null when it is unknown, revoked or malformed. An expired
    /// key is returned (with its <see cref="ApiKeyIdentity.ExpiresUtc"/>) so the caller can say why it is refused.
    /// </summary>
    public async ValueTask<ApiKeyIdentity?> FindAsync(string presentedKey, CancellationToken ct)
    {
        if (presentedKey.Length is < 20 or > MaxKeyLength || !presentedKey.StartsWith(ApiKeyHasher.KeyPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var hash = ApiKeyHasher.Hash(presentedKey);
        var cacheKey = CachePrefix + hash;
        if (cache.TryGetValue(cacheKey, out CachedKey? cached) && cached is not null)
        {
            return cached.Identity;
        }

        // Taken before the read: a change that lands while it runs expires what it read.
        var everyTenant = _everyTenant.Token;
        var changes = Interlocked.Read(ref _changes);
        var identity = await LoadAsync(hash, ct);
        if (options.CurrentValue.LookupCacheTtl > TimeSpan.Zero && Interlocked.Read(ref _changes) == changes)
        {
            var entry = new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = options.CurrentValue.LookupCacheTtl };
            entry.AddExpirationToken(new CancellationChangeToken(everyTenant));
            if (identity is not null)
            {
                entry.AddExpirationToken(new CancellationChangeToken(_tenantTokens.GetOrAdd(identity.TenantId, _ => new CancellationTokenSource()).Token));
            }

            cache.Set(cacheKey, new CachedKey(identity), entry);
        }

        return identity;
    }

    /// <summary>Drops a key's cached answer (after revoking or changing it on this instance).</summary>
    public void Forget(string hash) => cache.Remove(CachePrefix + hash);

    private void DropTenant(Guid tenantId)
    {
        Interlocked.Increment(ref _changes);
        if (tenantId == Guid.Empty)
        {
            Interlocked.Exchange(ref _everyTenant, new CancellationTokenSource()).Cancel();
        }
        else if (_tenantTokens.TryRemove(tenantId, out var tokens))
        {
            tokens.Cancel();
        }
    }

    private async Task<ApiKeyIdentity?> LoadAsync(string hash, CancellationToken ct)
    {
        // The tenant is what we are trying to learn, so this one read runs across tenants; it is keyed by
        // the hashes' unique indexes and returns only the key's own row. A secret replaced by a rotation is
        // found too (its overlap end travels in the identity and is checked on every request).
        await using var db = dbFactory.ForSystem();
        var row = await db.ApiKeys.AsNoTracking()
            .Where(k => (k.Hash == hash || k.PreviousHash == hash) && k.RevokedUtc == null)
            .Select(k => new { k.Id, k.TenantId, k.Name, k.Prefix, k.Hash, k.Scopes, k.AllowedModels, k.ExpiresUtc, k.PreviousHash, k.PreviousPrefix, k.PreviousExpiresUtc })
            .FirstOrDefaultAsync(ct);
        if (row is null)
        {
            return null;
        }

        // The index lookup already matched; the fixed-time comparison keeps the final decision free of
        // early-exit timing, should the lookup ever be widened (prefix search, case-insensitive collation).
        var presented = System.Text.Encoding.ASCII.GetBytes(hash);
        var scopes = ApiKeyScopes.Parse(row.Scopes);
        var models = ApiKeyModels.Parse(row.AllowedModels);
        if (CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(row.Hash), presented))
        {
            return new ApiKeyIdentity(row.Id, row.TenantId, row.Name, row.Prefix, scopes, row.ExpiresUtc, AllowedModels: models);
        }

        if (row.PreviousHash is not null && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(row.PreviousHash), presented))
        {
            // A replaced secret without a recorded overlap end is treated as already ended.
            var ends = row.PreviousExpiresUtc ?? DateTime.MinValue;
            var expires = row.ExpiresUtc is { } keyExpires && keyExpires < ends ? keyExpires : ends;
            return new ApiKeyIdentity(row.Id, row.TenantId, row.Name, row.PreviousPrefix ?? row.Prefix, scopes, expires, IsPreviousSecret: true, AllowedModels: models);
        }

        return null;
    }

    // A class so that "no such key" (null identity) can be cached too.
    private sealed record CachedKey(ApiKeyIdentity? Identity);
}
