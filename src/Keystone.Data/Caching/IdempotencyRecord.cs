namespace Keystone.Data.Caching;

/// <summary>The first result of a call made with an idempotency key, returned again until it expires.</summary>
public sealed class IdempotencyRecord : ITenantOwned
{
    public Guid TenantId { get; set; }

    /// <summary>The caller's key.</summary>
    public string Key { get; set; } = "";

    /// <summary>The call that produced the result.</summary>
    public Guid CallId { get; set; }

    /// <summary>The result (text, tool calls, finish reason, usage, outcome). JSON.</summary>
    public string ResultJson { get; set; } = "";

    public DateTime CreatedUtc { get; set; }

    public DateTime ExpiresUtc { get; set; }
}
