namespace Keystone.Gateway.Budgets;

/// <summary>A soft threshold of a cap was crossed (raised once per cap, threshold and period, across instances).</summary>
/// <param name="TenantId">The tenant.</param>
/// <param name="Scope">The cap's scope.</param>
/// <param name="Key">The cap's key (empty for the tenant scope).</param>
/// <param name="Period">The cap's period.</param>
/// <param name="ThresholdPercent">The threshold crossed.</param>
/// <param name="LimitMicros">The cap.</param>
/// <param name="SpentMicros">Spend when it was crossed.</param>
/// <param name="PeriodStartUtc">The period it was crossed in.</param>
public sealed record BudgetThresholdCrossed(Guid TenantId, BudgetScope Scope, string Key, BudgetPeriod Period, int ThresholdPercent,
    long LimitMicros, long SpentMicros, DateTime PeriodStartUtc);

/// <summary>The audit record of a crossed threshold: written by the ledger, read back by <see cref="IBudgetService.RecentThresholdsAsync"/>.</summary>
internal sealed record ThresholdAudit(
    [property: System.Text.Json.Serialization.JsonPropertyName("scope")] string Scope,
    [property: System.Text.Json.Serialization.JsonPropertyName("key")] string Key,
    [property: System.Text.Json.Serialization.JsonPropertyName("period")] string Period,
    [property: System.Text.Json.Serialization.JsonPropertyName("thresholdPercent")] int ThresholdPercent,
    [property: System.Text.Json.Serialization.JsonPropertyName("limitMicros")] long LimitMicros,
    [property: System.Text.Json.Serialization.JsonPropertyName("spentMicros")] long SpentMicros,
    [property: System.Text.Json.Serialization.JsonPropertyName("periodStartUtc")] DateTime PeriodStartUtc)
{
    public const string Action = "budget.threshold";
}

/// <summary>
/// In-process budget events other features subscribe to (notifications, dashboards). The fact an event fired
/// is persisted on the counter and in the audit log, so a restart does not raise it again.
/// </summary>
public sealed class BudgetEvents
{
    /// <summary>Raised after a soft threshold was crossed and recorded. Handlers must not throw or block.</summary>
    public event EventHandler<BudgetThresholdCrossed>? ThresholdCrossed;

    internal void Raise(BudgetThresholdCrossed e) => ThresholdCrossed?.Invoke(this, e);
}
