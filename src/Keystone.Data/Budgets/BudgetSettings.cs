namespace Keystone.Data.Budgets;

/// <summary>A tenant's budget behaviour: soft thresholds, the action at 100 % and the per-user request rate.</summary>
public sealed class BudgetSettings : ITenantOwned
{
    public Guid TenantId { get; set; }

    /// <summary>Comma-separated percentages that raise an event once per period (<c>50,80,100</c>).</summary>
    public string SoftThresholdsPercent { get; set; } = "80";

    /// <summary><c>block</c> or <c>degrade</c>.</summary>
    public string ActionAtLimit { get; set; } = "block";

    /// <summary>
    /// Requests per minute each user (console user or end user) of the tenant may make through the gateway; null means
    /// the platform's <c>Gateway:UserRequestsPerMinute</c>.
    /// </summary>
    public int? UserRequestsPerMinute { get; set; }

    public DateTime UpdatedUtc { get; set; }
}
