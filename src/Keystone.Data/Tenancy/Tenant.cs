namespace Keystone.Data.Tenancy;

/// <summary>A customer of the business running Keystone.</summary>
public sealed class Tenant
{
    public Guid Id { get; set; }

    /// <summary>Display name.</summary>
    public string Name { get; set; } = "";

    /// <summary>URL-safe unique handle (acme).</summary>
    public string Slug { get; set; } = "";

    public Guid PlanId { get; set; }

    public Plan? Plan { get; set; }

    /// <summary>Contract override of the plan's monthly price, micro-USD (null: the plan's).</summary>
    public long? ContractMonthlyPriceMicros { get; set; }

    /// <summary>True for tenants created by the demo seed.</summary>
    public bool IsDemo { get; set; }

    public DateTime CreatedUtc { get; set; }
}
