namespace Keystone.Data.RateLimits;

/// <summary>
/// One instance's request count for one rate-limit window and minute (PostgreSQL mode, where several instances
/// share the database): each instance writes its own rows with absolute counts and reads the others' sums, so a
/// limit holds across the cluster (decision 20). Not tenant-owned: the key names the tenant and the API key id or a
/// hash of the end user, never a name, and the rows are gone two minutes later.
/// </summary>
public sealed class RateLimitCount
{
    /// <summary><c>k:{tenant}:{key id}</c> or <c>u:{tenant}:{hash of the user}</c>.</summary>
    public string Key { get; set; } = "";

    /// <summary>Minutes since 0001-01-01 UTC.</summary>
    public long Minute { get; set; }

    /// <summary>The instance that counted (new at every start).</summary>
    public Guid InstanceId { get; set; }

    public int Count { get; set; }

    public DateTime UpdatedUtc { get; set; }

    public const int KeyMaxLength = 128;
}
