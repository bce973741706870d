using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Gateway;
using Keystone.Gateway.Credentials;
using Keystone.Gateway.Pipeline;
using Keystone.Gateway.Providers;
using Keystone.Web.Components.Shared;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Budgets;

/// <summary>A refused budget or provider-key change, in words for the page; <see cref="Field"/> names the input.</summary>
internal class BudgetSettingsException(string message, string field) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>The provider refused the key when it was tried (401/403): it was not saved (the API's 422 <c>provider_key_rejected</c>).</summary>
internal sealed class ProviderKeyRejectedException(string message) : BudgetSettingsException(message, "apiKey");

/// <summary>The change lost a race with another change to the same cap or key and changed nothing (the API's 409).</summary>
internal sealed class BudgetSettingsConflictException(string message) : BudgetSettingsException(message, "conflict");

/// <summary>The tenant has no key of its own for the provider (never saved, or just removed): the API's 404.</summary>
internal sealed class ProviderKeyMissingException(string message) : BudgetSettingsException(message, "provider");

/// <summary>A cap as the page lists it: the gateway's status plus what it applies to, in words.</summary>
internal sealed record BudgetCapListing(BudgetCapStatus Cap, string AppliesTo);

/// <summary>A soft threshold of a cap that was crossed (the gateway records each once per cap, threshold and period).</summary>
internal sealed record BudgetAlert(DateTime CrossedUtc, string AppliesTo, BudgetPeriod Period, int ThresholdPercent, long LimitMicros, long SpentMicros);

/// <summary>A provider a tenant may bring its own key for.</summary>
internal sealed record ProviderChoice(string Name, string Kind);

/// <summary>
/// The tenant admin's budgets page: caps with their live spend, soft thresholds and the action at a cap (through
/// the gateway's <see cref="IBudgetService"/>, as <c>/api/v1/budgets</c>), and the tenant's own provider keys
/// (BYOK: encrypted by <see cref="ProviderCredentialStore"/>, shown masked, never logged or audited in full).
/// Every change is audited.
/// </summary>
internal sealed class BudgetSettingsService(
    KeystoneDbFactory dbFactory,
    TenantContext tenant,
    IBudgetService budgets,
    ProviderCredentialStore credentials,
    ProviderKeyChecker keyChecker,
    IOptionsMonitor<GatewayProvidersOptions> providers,
    IOptionsMonitor<GatewayOptions> gateway,
    AuditLog audit)
{
    /// <summary>The longest provider key accepted (real ones are well under 300 characters).</summary>
    public const int MaxProviderKeyLength = 1024;

    /// <summary>The tenant in scope, or null (platform users who have not switched into a tenant).</summary>
    public Guid? TenantId => tenant.TenantId;

    /// <summary>How many recent alerts the page lists.</summary>
    public const int RecentAlerts = 10;

    /// <summary>The caps with this period's spend, named for people (API keys by name), and the tenant's policy.</summary>
    public async Task<(IReadOnlyList<BudgetCapListing> Caps, TenantBudget Budget)> GetAsync(CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var budget = await budgets.GetAsync(tenantId, ct);
        var names = await KeyNamesAsync(tenantId, budget.Caps.Where(c => c.Scope == BudgetScope.ApiKey).Select(c => c.Key), ct);
        return (budget.Caps.Select(c => new BudgetCapListing(c, AppliesTo(c.Scope, c.Key, names))).ToList(), budget);
    }

    /// <summary>The latest thresholds crossed (from the audit log, where the gateway records each), newest first.</summary>
    public async Task<IReadOnlyList<BudgetAlert>> AlertsAsync(CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var crossed = await budgets.RecentThresholdsAsync(tenantId, RecentAlerts, ct);
        var names = await KeyNamesAsync(tenantId, crossed.Where(c => c.Crossing.Scope == BudgetScope.ApiKey).Select(c => c.Crossing.Key), ct);
        return crossed.Select(c => new BudgetAlert(c.CrossedUtc, AppliesTo(c.Crossing.Scope, c.Crossing.Key, names), c.Crossing.Period,
            c.Crossing.ThresholdPercent, c.Crossing.LimitMicros, c.Crossing.SpentMicros)).ToList();
    }

    /// <summary>What a cap applies to, in words: API keys by name.</summary>
    public static string AppliesTo(BudgetScope scope, string? key, IReadOnlyDictionary<string, string>? keyNames = null) => scope switch
    {
        BudgetScope.Tenant => "the whole tenant",
        BudgetScope.Feature => $"feature {key}",
        BudgetScope.User => $"user {key}",
        _ => $"API key {keyNames?.GetValueOrDefault(key ?? "") ?? key}",
    };

    private async Task<IReadOnlyDictionary<string, string>> KeyNamesAsync(Guid tenantId, IEnumerable<string?> keys, CancellationToken ct)
    {
        var ids = keys.Select(k => Guid.TryParse(k, out var id) ? id : Guid.Empty).Where(id => id != Guid.Empty).Distinct().ToList();
        if (ids.Count == 0)
        {
            return new Dictionary<string, string>();
        }

        await using var db = dbFactory.ForTenant(tenantId);
        return await db.ApiKeys.AsNoTracking().Where(k => ids.Contains(k.Id)).ToDictionaryAsync(k => k.Id.ToString(), k => k.Name, ct);
    }

    /// <summary>Sets (or replaces) the cap of a scope, key and period.</summary>
    public async Task SetCapAsync(BudgetScope scope, string? key, BudgetPeriod period, decimal? limitUsd, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        if (scope == BudgetScope.ApiKey)
        {
            throw new BudgetSettingsException("An API key's cap is set with the key, on the API keys page.", "scope");
        }

        key = scope == BudgetScope.Tenant ? null : key?.Trim();
        if (scope != BudgetScope.Tenant && string.IsNullOrEmpty(key))
        {
            throw new BudgetSettingsException(scope == BudgetScope.Feature
                ? "Name the feature the cap is for (the X-Keystone-Feature label of its calls)."
                : "Name the user the cap is for (the user id or end user your calls send).", "key");
        }

        if (scope == BudgetScope.Feature && !FeatureLabel.IsValid(key))
        {
            throw new BudgetSettingsException($"A feature label is {FeatureLabel.Rule}, as calls send it: no call could meet this cap.", "key");
        }

        if (key is { Length: > 128 })
        {
            throw new BudgetSettingsException("That name is longer than 128 characters.", "key");
        }

        if (Money.MicrosFromDollars(limitUsd) is not { } micros || micros <= 0)
        {
            throw new BudgetSettingsException("A cap must be more than $0.", "limit");
        }

        await Refusals(() => budgets.SetAsync(tenantId, [new BudgetCapInput(scope, key, period, micros)], null, null, ct));
        await audit.WriteAsync("budgets.cap.set", $"tenant:{tenantId}", tenantId,
            new { scope = scope.ToString(), key, period = period.ToString(), limitMicros = micros }, ct);
    }

    /// <summary>Removes one cap; its spend so far stays in the call records.</summary>
    public async Task RemoveCapAsync(BudgetCapStatus cap, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        await budgets.RemoveAsync(tenantId, cap.Scope, cap.Key, cap.Period, ct);
        await audit.WriteAsync("budgets.cap.remove", $"tenant:{tenantId}", tenantId,
            new { scope = cap.Scope.ToString(), key = cap.Key, period = cap.Period.ToString(), limitMicros = cap.LimitMicros }, ct);
    }

    /// <summary>Sets the soft thresholds (percent of a cap that notify) and what happens at 100 %.</summary>
    public async Task SetPolicyAsync(string thresholds, BudgetAction action, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var parsed = new List<int>();
        foreach (var part in thresholds.Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part.TrimEnd('%'), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var t) || t is < 1 or > 100)
            {
                throw new BudgetSettingsException($"'{part}' is not a percentage from 1 to 100. Write them like: 50, 80, 100.", "thresholds");
            }

            parsed.Add(t);
        }

        if (parsed.Count > 10)
        {
            throw new BudgetSettingsException("Ten thresholds at most.", "thresholds");
        }

        var list = parsed.Distinct().Order().ToList();
        await Refusals(() => budgets.SetAsync(tenantId, [], list, action, ct));
        await audit.WriteAsync("budgets.policy", $"tenant:{tenantId}", tenantId, new { softThresholdsPercent = list, actionAtLimit = action.ToString() }, ct);
    }

    /// <summary>The requests per minute per user that apply now, and whether they are the tenant's own (else the platform's).</summary>
    public (int Limit, bool Own) UserRateInEffect(TenantBudget budget)
        => (gateway.CurrentValue.UserRequestsPerMinuteFor(budget.UserRequestsPerMinute), budget.UserRequestsPerMinute is not null);

    /// <summary>Sets the tenant's requests per minute per user; null goes back to the platform's default.</summary>
    public async Task SetUserRateAsync(int? requestsPerMinute, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        if (requestsPerMinute is < UserRateChange.Min or > UserRateChange.Max)
        {
            throw new BudgetSettingsException(
                $"A limit per user is from 1 to 1,000,000 requests a minute. Leave it empty for the platform's ({gateway.CurrentValue.UserRequestsPerMinute}).",
                "userRequestsPerMinute");
        }

        await Refusals(() => budgets.SetAsync(tenantId, [], null, null, new UserRateChange(requestsPerMinute), ct));
        await audit.WriteAsync("budgets.user_rate", $"tenant:{tenantId}", tenantId, new { userRequestsPerMinute = requestsPerMinute }, ct);
    }

    /// <summary>Where "degrade" sends a call at a cap (<c>smart → fast</c>, …), in words; empty when nowhere.</summary>
    public string DegradeRoutes() => string.Join(", ", gateway.CurrentValue.DegradeTo.OrderBy(d => d.Key, StringComparer.OrdinalIgnoreCase)
        .Select(d => $"{d.Key} → {d.Value}"));

    /// <summary>The providers of this platform a tenant can bring a key for, by name (a Local provider runs in process: no key).</summary>
    public IReadOnlyList<ProviderChoice> Providers() => providers.CurrentValue.Effective()
        .Where(p => !string.Equals(p.Value.Kind?.Trim(), nameof(ProviderKind.Local), StringComparison.OrdinalIgnoreCase))
        .Select(p => new ProviderChoice(p.Key, p.Value.Kind ?? "OpenAI"))
        .OrderBy(p => p.Name, StringComparer.OrdinalIgnoreCase).ToList();

    /// <summary>The tenant's own provider keys, masked.</summary>
    public Task<IReadOnlyList<ProviderCredentialInfo>> ProviderKeysAsync(CancellationToken ct) => credentials.ListAsync(RequireTenant(), ct);

    /// <summary>
    /// Tries the key against its provider, then stores (or replaces) it, encrypted, with that check's result. A key the
    /// provider refuses (401/403) is not stored; one that could not be tried (provider down, timeout) is stored
    /// unverified, so an outage never blocks a rotation (decision 0074). The audit names the provider, the last four
    /// characters and the result only.
    /// </summary>
    public async Task<ProviderCredentialInfo> SetProviderKeyAsync(string provider, string? apiKey, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var choice = Choice(provider);
        var secret = apiKey?.Trim() ?? "";
        if (secret.Length < 8 || secret.Length > MaxProviderKeyLength || secret.Any(char.IsWhiteSpace))
        {
            throw new BudgetSettingsException($"Paste the whole key: 8 to {MaxProviderKeyLength} characters, no spaces.", "apiKey");
        }

        var check = await keyChecker.CheckAsync(choice.Name, secret, ct);
        if (check.Result == ProviderKeyCheckResult.Rejected)
        {
            await audit.WriteAsync("byok.rejected", $"provider:{choice.Name}", tenantId,
                new { provider = choice.Name, key = "…" + secret[^4..], result = check.Code }, ct);
            throw new ProviderKeyRejectedException($"{choice.Name} refused this key, so it was not saved ({check.Reason}). Check that it is copied whole and not revoked.");
        }

        ProviderCredentialInfo saved = null!;
        await Refusals(async () => saved = await credentials.SetAsync(tenantId, choice.Name, secret, null, check, ct));
        await audit.WriteAsync("byok.set", $"provider:{choice.Name}", tenantId, new { provider = choice.Name, key = saved.Masked, check = check.Code }, ct);
        return saved;
    }

    /// <summary>Tries the stored key for a provider again ("Test again") and records the result; the key is kept whatever it is.</summary>
    public async Task<ProviderCredentialInfo> TestProviderKeyAsync(string provider, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var choice = Choice(provider);
        var stored = await credentials.GetForCallAsync(tenantId, choice.Name, ct) ?? throw NoKey(choice.Name);
        var check = await keyChecker.CheckAsync(choice.Name, stored.ApiKey, ct);
        var info = await credentials.RecordCheckAsync(tenantId, choice.Name, stored.ApiKey[^4..], check, ct) ?? throw NoKey(choice.Name);
        await audit.WriteAsync("byok.check", $"provider:{choice.Name}", tenantId, new { provider = choice.Name, key = info.Masked, result = check.Code }, ct);
        return info;
    }

    private static ProviderKeyMissingException NoKey(string provider) => new($"You have no key of your own for {provider} (it may have just been removed).");

    private ProviderChoice Choice(string provider) => Providers().FirstOrDefault(p => p.Name.Equals(provider, StringComparison.OrdinalIgnoreCase))
        ?? throw new BudgetSettingsException("Choose one of this platform's providers.", "provider");

    /// <summary>Removes the tenant's key for a provider: its calls go back to the platform's key (and are charged as such).</summary>
    public async Task<bool> RemoveProviderKeyAsync(string provider, CancellationToken ct)
    {
        var tenantId = RequireTenant();
        var removed = await credentials.RemoveAsync(tenantId, provider, ct);
        if (removed)
        {
            await audit.WriteAsync("byok.remove", $"provider:{provider}", tenantId, new { provider }, ct);
        }

        return removed;
    }

    // The gateway's services refuse with the API's error (a GatewayException); the page shows its words.
    private static async Task Refusals(Func<Task> change)
    {
        try
        {
            await change();
        }
        catch (GatewayException ex) when (ex.Error.HttpStatus == 400)
        {
            throw new BudgetSettingsException(ex.Error.Message, ex.Error.Param ?? "body");
        }
        catch (GatewayException ex) when (ex.Error.HttpStatus == 409)
        {
            // Someone else saved the same thing at the same moment: the page says so next to the form, the API answers 409.
            throw new BudgetSettingsConflictException(ex.Error.Message);
        }
    }

    private Guid RequireTenant() => tenant.TenantId
        ?? throw new BudgetSettingsException("Switch into a tenant first: budgets belong to one tenant.", "tenant");
}
