namespace Keystone.Data.Budgets;

/// <summary>A tenant's budget behaviour: soft thresholds and the action at 100 %.</summary>
public sealed class BudgetSettings : ITenantOwned
{
    public Guid TenantId { get; set; }

    /// <summary>Comma-separated percentages that raise an event once per period (<c>50,80,100</c>).</summary>
    public string SoftThresholdsPercent { get; set; } = "80";

    /// <summary><c>block</c> or <c>degrade</c>.</summary>
    public string ActionAtLimit { get; set; } = "block";

    public DateTime UpdatedUtc { get; set; }
}
