namespace Keystone.Data.Caching;

/// <summary>
/// One exact-cache answer. The key is a SHA-256 over a canonical JSON that starts with the tenant id, and the
/// row carries the tenant too (filtered and, on PostgreSQL, under row-level security): never shared across tenants.
/// </summary>
public sealed class ExactCacheEntry : ITenantOwned
{
    public Guid TenantId { get; set; }

    /// <summary>Lower-case hex SHA-256 of the canonical request.</summary>
    public string Key { get; set; } = "";

    public string Alias { get; set; } = "";

    public string? Provider { get; set; }

    public string? Model { get; set; }

    /// <summary>The answer (text, tool calls, finish reason, usage). JSON.</summary>
    public string ResponseJson { get; set; } = "";

    /// <summary>What the original call cost: a hit records it as saved.</summary>
    public long CostMicros { get; set; }

    /// <summary>The call that answered: a hit's call points to it, so its trace links to the original.</summary>
    public Guid? SourceCallId { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime ExpiresUtc { get; set; }
}
