namespace Keystone.Data.Tenancy;

/// <summary>A commercial plan: what a tenant pays and the caps it starts with.</summary>
public sealed class Plan
{
    public Guid Id { get; set; }

    /// <summary>Plan name shown to people (Free, Pro, Enterprise).</summary>
    public string Name { get; set; } = "";

    /// <summary>Subscription price per month, micro-USD.</summary>
    public long MonthlyPriceMicros { get; set; }

    /// <summary>Inference usage included in the subscription each month, micro-USD of cost.</summary>
    public long IncludedUsageMicros { get; set; }

    /// <summary>
    /// Markup over inference cost charged on usage above the included amount, in basis points
    /// (2,000 = cost + 20 %). Zero means overage is not billed.
    /// </summary>
    public int OverageMarkupBasisPoints { get; set; }

    /// <summary>Default tenant spending cap per day for new tenants on this plan (null: none).</summary>
    public long? DefaultTenantDayCapMicros { get; set; }

    /// <summary>Default tenant spending cap per month for new tenants on this plan (null: none).</summary>
    public long? DefaultTenantMonthCapMicros { get; set; }

    /// <summary>Default cap per end user per day (null: none).</summary>
    public long? DefaultUserDayCapMicros { get; set; }

    /// <summary>Default requests per minute per API key.</summary>
    public int DefaultRequestsPerMinute { get; set; } = 600;
}
