using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Gateway;
using Keystone.Web.Platform;
using Keystone.Web.Platform.Http;
using Keystone.Gateway.Pipeline;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Budgets;

// /api/v1/budgets shapes: camelCase (the app's default JSON naming), money in micro-USD, times in UTC.

/// <summary>One cap of <c>/api/v1/budgets</c>.</summary>
internal sealed record BudgetCapDto(string Scope, string? Key, string Period, long LimitMicros, long? SpentMicros, long? ReservedMicros, DateTime? ResetsAtUtc);

/// <summary>
/// <c>GET</c> / <c>PUT /api/v1/budgets</c> (on <c>PUT</c>, the counters and <see cref="EffectiveUserRequestsPerMinute"/> are
/// ignored). <see cref="UserRequestsPerMinute"/> is the tenant's own per-user request rate, null for the platform's;
/// <see cref="EffectiveUserRequestsPerMinute"/> is the one that applies now, whichever it is.
/// </summary>
internal sealed record BudgetDto(IReadOnlyList<BudgetCapDto> Caps, IReadOnlyList<int> SoftThresholdsPercent, string ActionAtLimit,
    int? UserRequestsPerMinute, int EffectiveUserRequestsPerMinute);

/// <summary>
/// <c>/api/v1/budgets</c>: the tenant's caps, soft thresholds, action at limit and per-user request rate through an <c>admin</c> key. The
/// gateway's <see cref="IBudgetService"/> does the work (the caps themselves live there); setting them is audited with
/// the acting key as the actor.
/// </summary>
internal static class BudgetEndpoints
{
    public static async Task<IResult> GetAsync(HttpContext http, IBudgetService budgets, IOptionsMonitor<GatewayOptions> gateway)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        return TypedResults.Ok(ToDto(await budgets.GetAsync(key.TenantId, http.RequestAborted), gateway.CurrentValue));
    }

    public static async Task<IResult> PutAsync(HttpContext http, ApiRequestBody body, IBudgetService budgets, AuditLog audit,
        KeystoneDbFactory dbFactory, IOptionsMonitor<GatewayOptions> gateway)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        var (caps, thresholds, action, userRate) = await body.ReadAsync(http.Request, Parse, ct);
        await RequireOwnKeysAsync(dbFactory, key.TenantId, caps, ct);
        var result = await budgets.SetAsync(key.TenantId, caps, thresholds, action, userRate, ct);
        await audit.WriteAsync(new AuditEntry
        {
            ActorType = "api_key", ActorId = key.KeyId.ToString(), ActorName = $"{key.Name} ({key.Prefix}…)", TenantId = key.TenantId,
            Action = "budgets.set", Target = $"tenant:{key.TenantId}",
            MetadataJson = JsonSerializer.Serialize(new
            {
                caps = caps.Select(c => new { scope = BudgetScopeText(c.Scope), c.Key, period = Lower(c.Period), c.LimitMicros }),
                softThresholdsPercent = thresholds, actionAtLimit = action is null ? null : Lower(action.Value),
                // Only when the PUT named it: null here would read as "back to the platform's default".
                userRequestsPerMinute = userRate is null ? null : new { value = userRate.RequestsPerMinute },
            }),
        }, ct);
        return TypedResults.Ok(ToDto(result, gateway.CurrentValue));
    }

    /// <summary>
    /// An <c>apiKey</c> cap names one of this tenant's keys; another tenant's key id (or one that never existed) is a
    /// 404 like every other lookup of a foreign id, and nothing is stored.
    /// </summary>
    private static async Task RequireOwnKeysAsync(KeystoneDbFactory dbFactory, Guid tenantId, List<BudgetCapInput> caps, CancellationToken ct)
    {
        var ids = caps.Where(c => c.Scope == BudgetScope.ApiKey).Select(c => Guid.Parse(c.Key!)).Distinct().ToList();
        if (ids.Count == 0)
        {
            return;
        }

        await using var db = dbFactory.ForTenant(tenantId);
        var own = await db.ApiKeys.AsNoTracking().Where(k => k.TenantId == tenantId && ids.Contains(k.Id)).Select(k => k.Id).ToListAsync(ct);
        if (ids.Except(own).ToList() is [var missing, ..])
        {
            throw ApiException.NotFound($"No API key {missing} in this tenant.");
        }
    }

    internal static (List<BudgetCapInput> Caps, List<int>? Thresholds, BudgetAction? Action, UserRateChange? UserRate) Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        var caps = new List<BudgetCapInput>();
        if (root.TryGetProperty("caps", out var array) && array.ValueKind != JsonValueKind.Null)
        {
            if (array.ValueKind != JsonValueKind.Array || array.GetArrayLength() > 1000)
            {
                throw ApiException.Invalid("caps", "caps must be an array of up to 1,000 caps.");
            }

            var i = 0;
            foreach (var cap in array.EnumerateArray())
            {
                var path = $"caps[{i}]";
                if (cap.ValueKind != JsonValueKind.Object)
                {
                    throw ApiException.Invalid(path, $"{path} must be an object.");
                }

                var (scope, capKey, period) = CapIdentity(JsonFields.RequiredString(cap, "scope", 16, $"{path}.scope"),
                    JsonFields.OptionalString(cap, "key", 128, $"{path}.key"), JsonFields.RequiredString(cap, "period", 16, $"{path}.period"),
                    $"{path}.");
                var limit = JsonFields.OptionalLong(cap, "limitMicros", 1, long.MaxValue / 4, $"{path}.limitMicros")
                    ?? throw ApiException.Invalid($"{path}.limitMicros", $"{path}.limitMicros is required.");
                caps.Add(new BudgetCapInput(scope, capKey, period, limit));
                i++;
            }
        }

        List<int>? thresholds = null;
        if (root.TryGetProperty("softThresholdsPercent", out var t) && t.ValueKind != JsonValueKind.Null)
        {
            if (t.ValueKind != JsonValueKind.Array || t.GetArrayLength() > 10
                || t.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out var v) || v is < 1 or > 100))
            {
                throw ApiException.Invalid("softThresholdsPercent", "softThresholdsPercent must be an array of up to 10 integers from 1 to 100.");
            }

            thresholds = [.. t.EnumerateArray().Select(x => x.GetInt32()).Distinct().Order()];
        }

        BudgetAction? action = JsonFields.OptionalString(root, "actionAtLimit", 16) switch
        {
            null => null,
            "block" => BudgetAction.Block,
            "degrade" => BudgetAction.Degrade,
            _ => throw ApiException.Invalid("actionAtLimit", "actionAtLimit must be block or degrade."),
        };
        return (caps, thresholds, action, UserRate(root));
    }

    /// <summary>Absent: unchanged; <c>null</c>: back to the platform's default; else an integer within the bounds.</summary>
    private static UserRateChange? UserRate(JsonElement root)
    {
        if (!root.TryGetProperty("userRequestsPerMinute", out var value))
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Null)
        {
            return new UserRateChange(null);
        }

        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var rpm) && rpm is >= UserRateChange.Min and <= UserRateChange.Max
            ? new UserRateChange(rpm)
            : throw ApiException.Invalid("userRequestsPerMinute",
                $"userRequestsPerMinute must be an integer from {UserRateChange.Min} to {UserRateChange.Max}, or null for the platform's default.");
    }

    private static BudgetDto ToDto(TenantBudget budget, GatewayOptions gateway) => new(
        budget.Caps.Select(c => new BudgetCapDto(BudgetScopeText(c.Scope), c.Key, Lower(c.Period), c.LimitMicros, c.SpentMicros, c.ReservedMicros, c.ResetsAtUtc)).ToList(),
        budget.SoftThresholdsPercent, Lower(budget.ActionAtLimit), budget.UserRequestsPerMinute,
        gateway.UserRequestsPerMinuteFor(budget.UserRequestsPerMinute));

    /// <summary>
    /// A cap's identity (scope + key + period) from its words, the same rules for the body of <c>PUT</c> and the query
    /// of <c>DELETE</c>; a bad part is a 400 naming it (<paramref name="prefix"/> + <c>scope</c>, <c>key</c> or <c>period</c>).
    /// </summary>
    internal static (BudgetScope Scope, string? Key, BudgetPeriod Period) CapIdentity(string scopeText, string? capKey, string periodText, string prefix)
    {
        var scope = scopeText switch
        {
            "tenant" => BudgetScope.Tenant,
            "user" => BudgetScope.User,
            "feature" => BudgetScope.Feature,
            "apiKey" => BudgetScope.ApiKey,
            _ => throw ApiException.Invalid($"{prefix}scope", $"{prefix}scope must be tenant, user, feature or apiKey."),
        };
        if (scope == BudgetScope.Tenant && capKey is not null)
        {
            throw ApiException.Invalid($"{prefix}key", $"{prefix}key must be null for the tenant scope.");
        }

        if (scope != BudgetScope.Tenant && string.IsNullOrWhiteSpace(capKey))
        {
            throw ApiException.Invalid($"{prefix}key", $"{prefix}key is required for the {BudgetScopeText(scope)} scope.");
        }

        if (scope == BudgetScope.ApiKey && !Guid.TryParse(capKey, out _))
        {
            throw ApiException.Invalid($"{prefix}key", $"{prefix}key must be an API key id for the apiKey scope.");
        }

        // The same rule as the budgets page and the X-Keystone-Feature header: a cap on a label no call can
        // carry would never be met, and would show whatever was stored on the page.
        if (scope == BudgetScope.Feature && !FeatureLabel.IsValid(capKey))
        {
            throw ApiException.Invalid($"{prefix}key", $"{prefix}key must be a feature label: {FeatureLabel.Rule}.");
        }

        var period = periodText switch
        {
            "day" => BudgetPeriod.Day,
            "month" => BudgetPeriod.Month,
            _ => throw ApiException.Invalid($"{prefix}period", $"{prefix}period must be day or month."),
        };
        return (scope, capKey, period);
    }

    /// <summary>
    /// <c>DELETE /api/v1/budgets/caps?scope=…&amp;key=…&amp;period=…</c>: removes one cap (its spend so far stays in the call
    /// records). 204 when it was there, 404 when this tenant has no such cap (also for the second of two removals at once).
    /// The key is a query parameter because a feature label may hold a <c>/</c>.
    /// </summary>
    public static async Task<IResult> DeleteCapAsync(HttpContext http, IBudgetService budgets, AuditLog audit)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        var query = http.Request.Query;
        string Single(string name, bool required)
        {
            var values = query[name];
            if (values.Count > 1)
            {
                throw ApiException.Invalid(name, $"{name} may be given once.");
            }

            return values.Count == 0 || values[0] is null ? (required ? throw ApiException.Invalid(name, $"{name} is required.") : null!) : values[0]!;
        }

        var (scope, capKey, period) = CapIdentity(Single("scope", true), query.ContainsKey("key") ? Single("key", false) : null, Single("period", true), "");
        if (!await budgets.RemoveAsync(key.TenantId, scope, capKey, period, ct))
        {
            throw ApiException.NotFound($"This tenant has no {Lower(period)} cap on {(scope == BudgetScope.Tenant ? "the tenant" : $"{BudgetScopeText(scope)} '{capKey}'")}.");
        }

        await audit.WriteAsync(new AuditEntry
        {
            ActorType = "api_key", ActorId = key.KeyId.ToString(), ActorName = $"{key.Name} ({key.Prefix}…)", TenantId = key.TenantId,
            Action = "budgets.cap.remove", Target = $"tenant:{key.TenantId}",
            MetadataJson = JsonSerializer.Serialize(new { scope = BudgetScopeText(scope), key = capKey, period = Lower(period) }),
        }, ct);
        return TypedResults.NoContent();
    }

    private static string BudgetScopeText(BudgetScope scope) => scope == BudgetScope.ApiKey ? "apiKey" : Lower(scope);

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
}
