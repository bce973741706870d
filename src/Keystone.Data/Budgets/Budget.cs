namespace Keystone.Data.Budgets;

/// <summary>
/// One spending cap of a tenant: scope (<c>tenant</c>, <c>user</c>, <c>feature</c>, <c>apiKey</c>) with its key,
/// period (<c>day</c>, <c>month</c>) and limit in micro-USD. Its live spend is in <see cref="BudgetCounter"/>.
/// </summary>
public sealed class Budget : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary><c>tenant</c>, <c>user</c>, <c>feature</c> or <c>apiKey</c> (the HTTP API's spelling).</summary>
    public string Scope { get; set; } = "tenant";

    /// <summary>User id, feature label or API key id; empty for the tenant scope (empty rather than null so the unique index holds).</summary>
    public string Key { get; set; } = "";

    /// <summary><c>day</c> or <c>month</c>.</summary>
    public string Period { get; set; } = "day";

    public long LimitMicros { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime UpdatedUtc { get; set; }
}
