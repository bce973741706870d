using Keystone.Web.Platform.Http;
using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Keys;
using Keystone.Gateway;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query;

namespace Keystone.Web.Features.Keys;

/// <summary>A key's calls and their cost (micro-USD) since the start of the current UTC month.</summary>
internal sealed record ApiKeyMonthUsage(long Calls, long CostMicros);

/// <summary>One key as the console lists it (never the secret).</summary>
internal sealed record ApiKeyRow(
    Guid Id,
    string Name,
    string Prefix,
    IReadOnlySet<string> Scopes,
    int? RequestsPerMinute,
    DateTime CreatedUtc,
    DateTime? LastUsedUtc,
    DateTime? RevokedUtc,
    IReadOnlyList<BudgetCapStatus> Caps,
    DateTime? ExpiresUtc = null,
    DateTime? RotatedUtc = null,
    string? PreviousPrefix = null,
    DateTime? PreviousExpiresUtc = null,
    IReadOnlySet<string>? AllowedModels = null,
    ApiKeyMonthUsage? ThisMonth = null)
{
    public bool IsRevoked => RevokedUtc is not null;

    public bool IsExpiredAt(DateTime nowUtc) => ExpiresUtc is { } e && e <= nowUtc;

    /// <summary>Whether the secret a rotation replaced still works at <paramref name="nowUtc"/>.</summary>
    public bool PreviousSecretWorksAt(DateTime nowUtc)
        => !IsRevoked && PreviousPrefix is not null && PreviousExpiresUtc is { } e && e > nowUtc && !IsExpiredAt(nowUtc);
}

/// <summary>What the console asks for when creating a key.</summary>
/// <param name="Name">Shown in lists; 1–128 characters.</param>
/// <param name="Scopes">At least one of <see cref="ApiKeyScopes.All"/>.</param>
/// <param name="RequestsPerMinute">Optional per-key rate limit (1–1,000,000).</param>
/// <param name="CapMicros">Optional spending cap for this key, micro-USD.</param>
/// <param name="CapPeriod">The cap's period.</param>
/// <param name="ExpiresUtc">Optional instant the key stops working: in the future, at most <see cref="ApiKeyService.MaxLifetime"/> ahead.</param>
/// <param name="Models">Optional allow-list among the tenant's models (<c>/v1/models</c>); null or empty: all of them.</param>
internal sealed record NewApiKey(string Name, IReadOnlyCollection<string> Scopes, int? RequestsPerMinute = null,
    long? CapMicros = null, BudgetPeriod CapPeriod = BudgetPeriod.Month, DateTime? ExpiresUtc = null,
    IReadOnlyCollection<string>? Models = null);

/// <summary>A key just created: the secret is in here once and nowhere else, ever.</summary>
internal sealed record CreatedApiKey(ApiKeyRow Key, string Secret);

/// <summary>Thrown for input that cannot be saved; the message is for people, <see cref="Field"/> names the input.</summary>
internal class ApiKeyValidationException(string message, string? field = null) : Exception(message)
{
    /// <summary>The API's name of the offending field (<c>name</c>, <c>scopes</c>, <c>expiresUtc</c>…), when one is.</summary>
    public string? Field { get; } = field;
}

/// <summary>The key does not exist in the tenant in scope (or, where it matters, is revoked).</summary>
internal sealed class ApiKeyNotFoundException(string message) : ApiKeyValidationException(message);

/// <summary>
/// Another change to the same key won the race (two rotations at once): this one changed nothing. The API answers 409,
/// the console says so in plain words.
/// </summary>
internal sealed class ApiKeyConflictException(string message) : ApiKeyValidationException(message);

/// <summary>
/// The tenant admin's API key operations for the tenant in scope: list, create (secret shown once), set
/// limits and expiry, rotate, revoke. Every change is audited; a change that narrows what a secret may do
/// (revoke, rotate, an earlier expiry) also drops the key from this instance's lookup cache so it applies at
/// once here, and every change tells the gateway's settings cache (<see cref="ITenantSettingsCache"/>), which drops
/// the tenant's copies here and on the other instances (a new rate limit applies to the next call).
/// </summary>
/// <remarks>
/// Every write is one conditional UPDATE (no read-modify-write of a tracked row), so concurrent writers cannot make an
/// answer untrue: a rotation replaces the hash it read or is refused (<see cref="ApiKeyConflictException"/>), and of
/// concurrent revocations exactly one finds the key still active (issue 20, item 5).
/// </remarks>
internal sealed class ApiKeyService(
    KeystoneDbFactory dbFactory,
    TenantContext tenant,
    AuditLog audit,
    ApiKeyLookup lookup,
    IBudgetService budgets,
    ILlmGateway gateway,
    ITenantSettingsCache settings,
    TimeProvider clock)
{
    /// <summary>The furthest ahead an expiry may be set; beyond it, a typo in the year is likelier than intent.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(5 * 366);

    /// <summary>The longest a rotated-out secret may keep working.</summary>
    public static readonly TimeSpan MaxRotationOverlap = TimeSpan.FromDays(30);

    public async Task<IReadOnlyList<ApiKeyRow>> ListAsync(CancellationToken ct)
    {
        var tenantId = RequireTenant();
        await using var db = dbFactory.ForTenant(tenantId);
        var keys = await db.ApiKeys.AsNoTracking().Where(k => k.TenantId == tenantId)
            .OrderBy(k => k.RevokedUtc != null).ThenByDescending(k => k.CreatedUtc)
            .ToListAsync(ct);
        var caps = (await budgets.GetAsync(tenantId, ct)).Caps.Where(c => c.Scope == BudgetScope.ApiKey).ToList();
        // What each key spent this month, capped or not: a platform with a key per customer sees each customer's cost here.
        var now = clock.GetUtcNow().UtcDateTime;
        var monthStart = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        var usage = await db.Calls.AsNoTracking()
            .Where(c => c.TenantId == tenantId && c.CreatedUtc >= monthStart && c.ApiKeyId != null)
            .GroupBy(c => c.ApiKeyId!.Value)
            .Select(g => new { KeyId = g.Key, Calls = g.LongCount(), Cost = g.Sum(c => c.CostMicros) })
            .ToDictionaryAsync(u => u.KeyId, u => new ApiKeyMonthUsage(u.Calls, u.Cost), ct);
        return keys.Select(k => ToRow(k, caps) with { ThisMonth = usage.GetValueOrDefault(k.Id, new ApiKeyMonthUsage(0, 0)) }).ToList();
    }

    public async Task<CreatedApiKey> CreateAsync(NewApiKey input, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var name = input.Name.Trim();
        Validate(name, input.Scopes, input.RequestsPerMinute, input.CapMicros);
        ValidateExpiry(input.ExpiresUtc);
        var models = await ValidateModelsAsync(tenantId, input.Models, ct);

        var secret = ApiKeyHasher.NewKey();
        var key = new ApiKey
        {
            Id = Guid.CreateVersion7(),
            TenantId = tenantId,
            Name = name,
            Prefix = ApiKeyHasher.PrefixOf(secret),
            Hash = ApiKeyHasher.Hash(secret),
            Scopes = ApiKeyScopes.Format(input.Scopes),
            RequestsPerMinute = input.RequestsPerMinute,
            ExpiresUtc = input.ExpiresUtc,
            AllowedModels = models,
            CreatedByUserId = tenant.UserId,
            CreatedUtc = clock.GetUtcNow().UtcDateTime,
        };
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            db.ApiKeys.Add(key);
            await db.SaveChangesAsync(ct);
        }

        IReadOnlyList<BudgetCapStatus> caps = [];
        if (input.CapMicros is { } cap)
        {
            try
            {
                var budget = await budgets.SetAsync(tenantId, [new BudgetCapInput(BudgetScope.ApiKey, key.Id.ToString(), input.CapPeriod, cap)], null, null, ct);
                caps = budget.Caps;
            }
            catch
            {
                // The cap lives in the budget service's own table and context. Without it the key would be listed
                // uncapped (its secret is never shown, but an admin would see a key they did not ask for): take it back.
                await using var db = dbFactory.ForTenant(tenantId);
                await db.ApiKeys.Where(k => k.Id == key.Id).ExecuteDeleteAsync(CancellationToken.None);
                throw;
            }
        }

        settings.Invalidate(tenantId);
        await audit.WriteAsync("apikey.create", $"apikey:{key.Id}", tenantId,
            new { key.Name, key.Prefix, key.Scopes, key.RequestsPerMinute, capMicros = input.CapMicros, key.ExpiresUtc, models = key.AllowedModels }, ct);
        return new CreatedApiKey(ToRow(key, caps.Where(c => c.Scope == BudgetScope.ApiKey).ToList()), secret);
    }

    /// <summary>Sets (or clears, with null) a key's rate limit and spending cap.</summary>
    public async Task SetLimitsAsync(Guid keyId, int? requestsPerMinute, long? capMicros, BudgetPeriod capPeriod, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        Validate("limits", [ApiKeyScopes.Chat], requestsPerMinute, capMicros);
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            var changed = await db.ApiKeys.Where(k => k.Id == keyId && k.TenantId == tenantId)
                .ExecuteUpdateAsync(u => u.SetProperty(k => k.RequestsPerMinute, requestsPerMinute), ct);
            if (changed == 0)
            {
                throw new ApiKeyNotFoundException("That key does not exist in this tenant.");
            }
        }

        // The gateway reads key rate limits from its settings cache: the next call (on any instance) sees the new one.
        settings.Invalidate(tenantId);

        var existing = (await budgets.GetAsync(tenantId, ct)).Caps
            .Where(c => c.Scope == BudgetScope.ApiKey && c.Key == keyId.ToString()).ToList();
        foreach (var old in existing.Where(c => capMicros is null || c.Period != capPeriod))
        {
            await budgets.RemoveAsync(tenantId, BudgetScope.ApiKey, old.Key, old.Period, ct);
        }

        if (capMicros is { } cap)
        {
            await budgets.SetAsync(tenantId, [new BudgetCapInput(BudgetScope.ApiKey, keyId.ToString(), capPeriod, cap)], null, null, ct);
        }

        await audit.WriteAsync("apikey.limits", $"apikey:{keyId}", tenantId, new { requestsPerMinute, capMicros, capPeriod = capPeriod.ToString() }, ct);
    }

    /// <summary>
    /// Sets which of the tenant's models a key may call (null or empty: all of them). Narrowing applies at once on
    /// this instance and within the lookup cache TTL elsewhere.
    /// </summary>
    public async Task SetModelsAsync(Guid keyId, IReadOnlyCollection<string>? models, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var stored = await ValidateModelsAsync(tenantId, models, ct);
        var key = await UpdateActiveAsync(tenantId, keyId, u => u.SetProperty(k => k.AllowedModels, stored), ct);
        await audit.WriteAsync("apikey.models", $"apikey:{keyId}", tenantId, new { key.Prefix, models = stored }, ct);
    }

    /// <summary>The names a key's allow-list may hold: the tenant's aliases and allowed models (<c>/v1/models</c>).</summary>
    public async Task<IReadOnlyList<string>> ModelChoicesAsync(CancellationToken ct)
        => (await gateway.ModelsAsync(RequireTenant(), ct)).Select(m => m.Id).ToList();

    /// <summary>
    /// Sets (or clears, with null) when a key stops working. Extending an expired key brings it back; its
    /// secret never changed, so callers that still hold it work again.
    /// </summary>
    public async Task SetExpiryAsync(Guid keyId, DateTime? expiresUtc, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        ValidateExpiry(expiresUtc);
        var key = await UpdateActiveAsync(tenantId, keyId, u => u.SetProperty(k => k.ExpiresUtc, expiresUtc), ct);
        await audit.WriteAsync("apikey.expiry", $"apikey:{keyId}", tenantId, new { key.Prefix, expiresUtc }, ct);
    }

    /// <summary>
    /// Gives a key a new secret (returned once) and lets the current one keep working for <paramref name="overlap"/>
    /// (zero: it stops at once), so a tenant can roll a leaked or old secret without downtime. The key keeps its id,
    /// so its caps, spend so far, rate limit and attribution carry on unchanged. A secret replaced by an earlier
    /// rotation and still in its overlap stops now: a key has at most two working secrets.
    /// </summary>
    public async Task<CreatedApiKey> RotateAsync(Guid keyId, TimeSpan overlap, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        if (overlap < TimeSpan.Zero || overlap > MaxRotationOverlap)
        {
            throw new ApiKeyValidationException($"The old secret may keep working for 0 to {MaxRotationOverlap.TotalDays:0} days.", "overlapSeconds");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var secret = ApiKeyHasher.NewKey();
        ApiKey key;
        string? replacedEarlier;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            key = await ActiveKeyAsync(db, tenantId, keyId, ct);
            var readHash = key.Hash;
            replacedEarlier = key.PreviousHash;
            key.PreviousHash = key.Hash;
            key.PreviousPrefix = key.Prefix;
            key.PreviousExpiresUtc = now + overlap;
            key.Hash = ApiKeyHasher.Hash(secret);
            key.Prefix = ApiKeyHasher.PrefixOf(secret);
            key.RotatedUtc = now;
            // Compare-and-swap on the hash this rotation replaces: of two rotations that read the same secret only one
            // may store its own, or the other would answer 200 with a secret that never authenticates.
            var swapped = await db.ApiKeys
                .Where(k => k.Id == keyId && k.TenantId == tenantId && k.RevokedUtc == null && k.Hash == readHash)
                .ExecuteUpdateAsync(u => u
                    .SetProperty(k => k.PreviousHash, key.PreviousHash)
                    .SetProperty(k => k.PreviousPrefix, key.PreviousPrefix)
                    .SetProperty(k => k.PreviousExpiresUtc, key.PreviousExpiresUtc)
                    .SetProperty(k => k.Hash, key.Hash)
                    .SetProperty(k => k.Prefix, key.Prefix)
                    .SetProperty(k => k.RotatedUtc, key.RotatedUtc), ct);
            if (swapped == 0)
            {
                // Revoked meanwhile (404), or another rotation stored its secret first (409): nothing changed here.
                _ = await ActiveKeyAsync(db, tenantId, keyId, ct);
                throw new ApiKeyConflictException("The key was rotated by someone else at the same moment; this rotation changed nothing. Use the secret that rotation returned, or rotate again.");
            }
        }

        if (replacedEarlier is not null)
        {
            lookup.Forget(replacedEarlier);
        }

        ForgetSecrets(key);
        settings.Invalidate(tenantId);
        await audit.WriteAsync("apikey.rotate", $"apikey:{keyId}", tenantId,
            new { previousPrefix = key.PreviousPrefix, key.Prefix, previousWorksUntilUtc = key.PreviousExpiresUtc }, ct);
        var caps = (await budgets.GetAsync(tenantId, ct)).Caps.Where(c => c.Scope == BudgetScope.ApiKey).ToList();
        return new CreatedApiKey(ToRow(key, caps), secret);
    }

    /// <summary>Revokes a key for good (every secret it has); later requests with it get 401.</summary>
    public async Task<bool> RevokeAsync(Guid keyId, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        ApiKey? key;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            // One conditional UPDATE: of concurrent revocations exactly one finds the key active and answers true.
            var revoked = await db.ApiKeys.Where(k => k.Id == keyId && k.TenantId == tenantId && k.RevokedUtc == null)
                .ExecuteUpdateAsync(u => u.SetProperty(k => k.RevokedUtc, clock.GetUtcNow().UtcDateTime), ct);
            if (revoked == 0)
            {
                return false;
            }

            // Read after the update: its secrets as they are now (a rotation may have run just before).
            key = await db.ApiKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Id == keyId && k.TenantId == tenantId, ct);
        }

        if (key is null)
        {
            return true;
        }

        ForgetSecrets(key);
        settings.Invalidate(tenantId);
        await audit.WriteAsync("apikey.revoke", $"apikey:{keyId}", tenantId, new { prefix = key.Prefix }, ct);
        return true;
    }

    private async Task<string?> ValidateModelsAsync(Guid tenantId, IReadOnlyCollection<string>? models, CancellationToken ct)
    {
        var stored = ApiKeyModels.Format(models);
        if (stored is null)
        {
            return null;
        }

        var names = ApiKeyModels.Parse(stored)!;
        if (names.Count > ApiKeyModels.MaxCount)
        {
            throw new ApiKeyValidationException($"A key may list at most {ApiKeyModels.MaxCount} models.", "models");
        }

        // Only what the tenant may use today: a typo would otherwise lock the key out with no hint why.
        var known = (await gateway.ModelsAsync(tenantId, ct)).Select(m => m.Id).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var unknown = names.Where(n => !known.Contains(n)).Order(StringComparer.OrdinalIgnoreCase).ToList();
        if (unknown.Count > 0)
        {
            throw new ApiKeyValidationException(
                $"Not a model this tenant may use: {string.Join(", ", unknown)}. Choose among: {string.Join(", ", known.Order(StringComparer.OrdinalIgnoreCase))}.", "models");
        }

        // Stored as the catalog spells them, so lists and error messages read the same as /v1/models.
        return ApiKeyModels.Format(known.Where(names.Contains));
    }

    // The tracked row of a key of this tenant that is not revoked; another tenant's key is "not found" too.
    private static async Task<ApiKey> ActiveKeyAsync(KeystoneDbContext db, Guid tenantId, Guid keyId, CancellationToken ct)
        => await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == keyId && k.TenantId == tenantId && k.RevokedUtc == null, ct)
            ?? throw new ApiKeyNotFoundException("That key does not exist in this tenant or is revoked.");

    // One conditional UPDATE of an active key of this tenant, then its row as stored (for the audit and the lookup cache).
    private async Task<ApiKey> UpdateActiveAsync(Guid tenantId, Guid keyId,
        Action<UpdateSettersBuilder<ApiKey>> set, CancellationToken ct)
    {
        ApiKey key;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            var changed = await db.ApiKeys.Where(k => k.Id == keyId && k.TenantId == tenantId && k.RevokedUtc == null).ExecuteUpdateAsync(set, ct);
            key = changed == 0
                ? throw new ApiKeyNotFoundException("That key does not exist in this tenant or is revoked.")
                : await db.ApiKeys.AsNoTracking().FirstAsync(k => k.Id == keyId && k.TenantId == tenantId, ct);
        }

        ForgetSecrets(key);
        settings.Invalidate(tenantId);
        return key;
    }

    private void ForgetSecrets(ApiKey key)
    {
        lookup.Forget(key.Hash);
        if (key.PreviousHash is not null)
        {
            lookup.Forget(key.PreviousHash);
        }
    }

    /// <summary>Throws <see cref="ApiKeyValidationException"/> when <paramref name="expiresUtc"/> cannot be a key's expiry.</summary>
    public void ValidateExpiry(DateTime? expiresUtc)
    {
        if (expiresUtc is not { } expires)
        {
            return;
        }

        if (expires.Kind != DateTimeKind.Utc)
        {
            throw new ApiKeyValidationException("The expiry must be given in UTC.", "expiresUtc");
        }

        var now = clock.GetUtcNow().UtcDateTime;
        if (expires <= now)
        {
            throw new ApiKeyValidationException("The expiry must be in the future (or empty for a key that does not expire).", "expiresUtc");
        }

        if (expires > now + MaxLifetime)
        {
            throw new ApiKeyValidationException("The expiry may be at most 5 years ahead.", "expiresUtc");
        }
    }

    private Guid RequireTenant() => tenant.TenantId
        ?? throw new ApiKeyValidationException("Switch into a tenant first: API keys belong to one tenant.");

    private static void Validate(string name, IReadOnlyCollection<string> scopes, int? rpm, long? capMicros)
    {
        if (name.Length is 0 or > 128)
        {
            throw new ApiKeyValidationException("Give the key a name of 1 to 128 characters.", "name");
        }

        if (scopes.Count == 0 || scopes.Any(s => !ApiKeyScopes.All.Contains(s)))
        {
            throw new ApiKeyValidationException($"Choose at least one scope among: {string.Join(", ", ApiKeyScopes.All)}.", "scopes");
        }

        if (rpm is < 1 or > 1_000_000)
        {
            throw new ApiKeyValidationException("Requests per minute must be between 1 and 1,000,000 (or empty for the plan's default).", "requestsPerMinute");
        }

        if (capMicros is <= 0)
        {
            throw new ApiKeyValidationException("A spending cap must be more than $0 (or empty for none).", "capMicros");
        }
    }

    private static ApiKeyRow ToRow(ApiKey k, IReadOnlyList<BudgetCapStatus> caps) => new(
        k.Id, k.Name, k.Prefix, ApiKeyScopes.Parse(k.Scopes), k.RequestsPerMinute, k.CreatedUtc, k.LastUsedUtc, k.RevokedUtc,
        caps.Where(c => c.Key == k.Id.ToString()).ToList(), k.ExpiresUtc, k.RotatedUtc, k.PreviousPrefix, k.PreviousExpiresUtc,
        ApiKeyModels.Parse(k.AllowedModels));
}
