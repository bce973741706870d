using Keystone.Data;
using Keystone.Data.Keys;
using Keystone.Gateway;
using Keystone.Web.Features.Audit;
using Keystone.Web.Features.Tenants;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Keys;

/// <summary>One key as the console lists it (never the secret).</summary>
public sealed record ApiKeyRow(
    Guid Id,
    string Name,
    string Prefix,
    IReadOnlySet<string> Scopes,
    int? RequestsPerMinute,
    DateTime CreatedUtc,
    DateTime? LastUsedUtc,
    DateTime? RevokedUtc,
    IReadOnlyList<BudgetCapStatus> Caps)
{
    public bool IsRevoked => RevokedUtc is not null;
}

/// <summary>What the console asks for when creating a key.</summary>
/// <param name="Name">Shown in lists; 1–128 characters.</param>
/// <param name="Scopes">At least one of <see cref="ApiKeyScopes.All"/>.</param>
/// <param name="RequestsPerMinute">Optional per-key rate limit (1–1,000,000).</param>
/// <param name="CapMicros">Optional spending cap for this key, micro-USD.</param>
/// <param name="CapPeriod">The cap's period.</param>
public sealed record NewApiKey(string Name, IReadOnlyCollection<string> Scopes, int? RequestsPerMinute = null,
    long? CapMicros = null, BudgetPeriod CapPeriod = BudgetPeriod.Month);

/// <summary>A key just created: the secret is in here once and nowhere else, ever.</summary>
public sealed record CreatedApiKey(ApiKeyRow Key, string Secret);

/// <summary>Thrown for console input that cannot be saved; the message is for people.</summary>
public sealed class ApiKeyValidationException(string message) : Exception(message);

/// <summary>
/// The tenant admin's API key operations for the tenant in scope: list, create (secret shown once), set
/// limits, revoke. Creating and revoking are audited; revoking also drops the key from this instance's
/// lookup cache so it stops working at once here (and within the cache TTL elsewhere).
/// </summary>
public sealed class ApiKeyService(
    KeystoneDbFactory dbFactory,
    TenantContext tenant,
    AuditLog audit,
    ApiKeyLookup lookup,
    IBudgetService budgets,
    TimeProvider clock)
{
    public async Task<IReadOnlyList<ApiKeyRow>> ListAsync(CancellationToken ct)
    {
        var tenantId = RequireTenant();
        await using var db = dbFactory.ForTenant(tenantId);
        var keys = await db.ApiKeys.AsNoTracking().Where(k => k.TenantId == tenantId)
            .OrderBy(k => k.RevokedUtc != null).ThenByDescending(k => k.CreatedUtc)
            .ToListAsync(ct);
        var caps = (await budgets.GetAsync(tenantId, ct)).Caps.Where(c => c.Scope == BudgetScope.ApiKey).ToList();
        return keys.Select(k => ToRow(k, caps)).ToList();
    }

    public async Task<CreatedApiKey> CreateAsync(NewApiKey input, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var name = input.Name.Trim();
        Validate(name, input.Scopes, input.RequestsPerMinute, input.CapMicros);

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
            var budget = await budgets.SetAsync(tenantId, [new BudgetCapInput(BudgetScope.ApiKey, key.Id.ToString(), input.CapPeriod, cap)], null, null, ct);
            caps = budget.Caps;
        }

        await audit.WriteAsync("apikey.create", $"apikey:{key.Id}", tenantId,
            new { key.Name, key.Prefix, key.Scopes, key.RequestsPerMinute, capMicros = input.CapMicros }, ct);
        return new CreatedApiKey(ToRow(key, caps.Where(c => c.Scope == BudgetScope.ApiKey).ToList()), secret);
    }

    /// <summary>Sets (or clears, with null) a key's rate limit and spending cap.</summary>
    public async Task SetLimitsAsync(Guid keyId, int? requestsPerMinute, long? capMicros, BudgetPeriod capPeriod, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        Validate("limits", [ApiKeyScopes.Chat], requestsPerMinute, capMicros);
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            var key = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == keyId && k.TenantId == tenantId, ct)
                ?? throw new ApiKeyValidationException("That key does not exist in this tenant.");
            key.RequestsPerMinute = requestsPerMinute;
            await db.SaveChangesAsync(ct);
        }

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

    /// <summary>Revokes a key for good; later requests with it get 401.</summary>
    public async Task<bool> RevokeAsync(Guid keyId, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        string hash;
        string prefix;
        await using (var db = dbFactory.ForTenant(tenantId))
        {
            var key = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == keyId && k.TenantId == tenantId, ct);
            if (key is null || key.RevokedUtc is not null)
            {
                return false;
            }

            key.RevokedUtc = clock.GetUtcNow().UtcDateTime;
            await db.SaveChangesAsync(ct);
            hash = key.Hash;
            prefix = key.Prefix;
        }

        lookup.Forget(hash);
        await audit.WriteAsync("apikey.revoke", $"apikey:{keyId}", tenantId, new { prefix }, ct);
        return true;
    }

    private Guid RequireTenant() => tenant.TenantId
        ?? throw new ApiKeyValidationException("Switch into a tenant first: API keys belong to one tenant.");

    private static void Validate(string name, IReadOnlyCollection<string> scopes, int? rpm, long? capMicros)
    {
        if (name.Length is 0 or > 128)
        {
            throw new ApiKeyValidationException("Give the key a name of 1 to 128 characters.");
        }

        if (scopes.Count == 0 || scopes.Any(s => !ApiKeyScopes.All.Contains(s)))
        {
            throw new ApiKeyValidationException($"Choose at least one scope among: {string.Join(", ", ApiKeyScopes.All)}.");
        }

        if (rpm is < 1 or > 1_000_000)
        {
            throw new ApiKeyValidationException("Requests per minute must be between 1 and 1,000,000 (or empty for the plan's default).");
        }

        if (capMicros is <= 0)
        {
            throw new ApiKeyValidationException("A spending cap must be more than $0 (or empty for none).");
        }
    }

    private static ApiKeyRow ToRow(ApiKey k, IReadOnlyList<BudgetCapStatus> caps) => new(
        k.Id, k.Name, k.Prefix, ApiKeyScopes.Parse(k.Scopes), k.RequestsPerMinute, k.CreatedUtc, k.LastUsedUtc, k.RevokedUtc,
        caps.Where(c => c.Key == k.Id.ToString()).ToList());
}
