namespace Keystone.Gateway;

/// <summary>What a cap applies to (the HTTP API's <c>scope</c> values, lower-case on the wire).</summary>
public enum BudgetScope
{
    Tenant,
    User,
    Feature,
    ApiKey,
}

/// <summary>The cap's period. Periods start at 00:00 UTC (day) and the 1st, 00:00 UTC (month).</summary>
public enum BudgetPeriod
{
    Day,
    Month,
}

/// <summary>What happens at 100 % of a cap.</summary>
public enum BudgetAction
{
    /// <summary>Reject the call with <c>budget_exceeded</c>.</summary>
    Block,

    /// <summary>Serve it on a cheaper alias (configured per gateway) instead.</summary>
    Degrade,
}

/// <summary>One cap to set.</summary>
/// <param name="Scope">What it applies to.</param>
/// <param name="Key">Null for the tenant; else the user id, feature label or API key id.</param>
/// <param name="Period">Day or month.</param>
/// <param name="LimitMicros">The cap, micro-USD; must be positive.</param>
public sealed record BudgetCapInput(BudgetScope Scope, string? Key, BudgetPeriod Period, long LimitMicros);

/// <summary>A cap with its counters for the current period.</summary>
public sealed record BudgetCapStatus(
    BudgetScope Scope,
    string? Key,
    BudgetPeriod Period,
    long LimitMicros,
    long SpentMicros,
    long ReservedMicros,
    DateTime PeriodStartUtc,
    DateTime ResetsAtUtc,
    int RefusedCount = 0,
    string? LastRefusalReason = null,
    DateTime? LastRefusedUtc = null,
    int? FitsOutputTokens = null)
{
    /// <summary>What is left for new calls: the limit less spend and reservations (never negative).</summary>
    public long LeftMicros => Math.Max(0, LimitMicros - SpentMicros - ReservedMicros);

    /// <summary>Spent and reserved as a share of the limit (0..n).</summary>
    public double UsedFraction => LimitMicros <= 0 ? 0 : (double)(SpentMicros + ReservedMicros) / LimitMicros;
}

/// <summary>A tenant's budget settings and live counters.</summary>
/// <param name="Caps">The caps with this period's counters, refusals and what still fits.</param>
/// <param name="SoftThresholdsPercent">Where alerts fire.</param>
/// <param name="ActionAtLimit">Block or degrade.</param>
/// <param name="FitModel">The model the caps' "what still fits" is priced on (the tenant's latest answered call, else the
/// dearest chat model in the price table); null when nothing is priced.</param>
/// <param name="UserRequestsPerMinute">The tenant's own limit of requests per minute per user; null when the platform's
/// <c>Gateway:UserRequestsPerMinute</c> applies.</param>
public sealed record TenantBudget(
    IReadOnlyList<BudgetCapStatus> Caps,
    IReadOnlyList<int> SoftThresholdsPercent,
    BudgetAction ActionAtLimit,
    string? FitModel = null,
    int? UserRequestsPerMinute = null);

/// <summary>
/// A change to the tenant's per-user request rate. A wrapper, so "not changed" (no change given) and "back to the
/// platform's default" (<paramref name="RequestsPerMinute"/> null) stay two different things.
/// </summary>
/// <param name="RequestsPerMinute">From <see cref="Min"/> to <see cref="Max"/>, or null for the platform's default.</param>
public sealed record UserRateChange(int? RequestsPerMinute)
{
    /// <summary>The lowest limit a tenant may set.</summary>
    public const int Min = 1;

    /// <summary>The highest limit a tenant may set.</summary>
    public const int Max = 1_000_000;
}

/// <summary>
/// Reads and sets a tenant's caps (the settings pages and <c>/api/v1/budgets</c> use it). Reservation and
/// settlement are internal to the gateway pipeline.
/// </summary>
public interface IBudgetService
{
    Task<TenantBudget> GetAsync(Guid tenantId, CancellationToken ct);

    /// <summary>Replaces the caps named (same scope, key and period) and leaves the others; thresholds and action replace when given.</summary>
    Task<TenantBudget> SetAsync(Guid tenantId, IReadOnlyList<BudgetCapInput> caps, IReadOnlyList<int>? softThresholdsPercent,
        BudgetAction? actionAtLimit, CancellationToken ct) => SetAsync(tenantId, caps, softThresholdsPercent, actionAtLimit, null, ct);

    /// <summary>
    /// As the other overload, and the per-user request rate replaces when <paramref name="userRequestsPerMinute"/> is
    /// given; all in one transaction, so a <c>PUT</c> is stored whole or not at all.
    /// </summary>
    Task<TenantBudget> SetAsync(Guid tenantId, IReadOnlyList<BudgetCapInput> caps, IReadOnlyList<int>? softThresholdsPercent,
        BudgetAction? actionAtLimit, UserRateChange? userRequestsPerMinute, CancellationToken ct);

    /// <summary>Deletes one cap; false when the tenant had no such cap (another removal may have taken it first).</summary>
    Task<bool> RemoveAsync(Guid tenantId, BudgetScope scope, string? key, BudgetPeriod period, CancellationToken ct);

    /// <summary>The latest soft thresholds crossed (each recorded once per cap, threshold and period), newest first.</summary>
    Task<IReadOnlyList<(DateTime CrossedUtc, Budgets.BudgetThresholdCrossed Crossing)>> RecentThresholdsAsync(Guid tenantId, int count,
        CancellationToken ct);
}
