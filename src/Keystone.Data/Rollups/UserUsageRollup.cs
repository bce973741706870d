namespace Keystone.Data.Rollups;

/// <summary>
/// Calls per UTC day by tenant × user × feature × model: the source of top users, active users (distinct
/// users are not additive, so they are counted from these rows, never summed across hours) and a tenant
/// member's own usage. Replaced whole days at a time by the rollup job.
/// </summary>
public sealed class UserUsageRollup : ITenantOwned
{
    public long Id { get; set; }

    public Guid TenantId { get; set; }

    public DateTime DayUtc { get; set; }

    /// <summary>Console user who made the calls; empty when none (API calls).</summary>
    public string UserId { get; set; } = "";

    /// <summary>The tenant's end user named in the request; empty when none.</summary>
    public string EndUser { get; set; } = "";

    public string Feature { get; set; } = "";

    /// <summary>Provider model that answered; empty when none did.</summary>
    public string Model { get; set; } = "";

    /// <summary>Who paid for the calls: margin views count only platform-paid cost (not the tenant's own key).</summary>
    public Calls.BilledTo BilledTo { get; set; }

    public long Calls { get; set; }

    public long Errors { get; set; }

    public long InputTokens { get; set; }

    public long OutputTokens { get; set; }

    public long CostMicros { get; set; }
}
