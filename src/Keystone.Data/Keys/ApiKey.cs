namespace Keystone.Data.Keys;

/// <summary>
/// A tenant API key. Only a SHA-256 hash of the secret is stored (keys are 256-bit random, so a slow
/// hash buys nothing); the prefix is kept to show people which key is which.
/// </summary>
public sealed class ApiKey : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>Name people gave the key.</summary>
    public string Name { get; set; } = "";

    /// <summary>The first characters of the key (<c>ks_AbCd1234</c>), safe to show.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>Lower-case hex SHA-256 of the whole key.</summary>
    public string Hash { get; set; } = "";

    /// <summary>Space-separated scopes (<c>chat embeddings usage:read admin</c>).</summary>
    public string Scopes { get; set; } = "";

    /// <summary>
    /// Space-separated aliases or <c>provider/model</c> names this key may call (null: every model the tenant may
    /// use). Narrows the tenant's own allow-list, never widens it.
    /// </summary>
    public string? AllowedModels { get; set; }

    /// <summary>Optional requests-per-minute limit for this key (null: the plan's default).</summary>
    public int? RequestsPerMinute { get; set; }

    public string? CreatedByUserId { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime? LastUsedUtc { get; set; }

    public DateTime? RevokedUtc { get; set; }

    /// <summary>When the key stops working (401 <c>api_key_expired</c>); null: never.</summary>
    public DateTime? ExpiresUtc { get; set; }

    /// <summary>
    /// The secret this key had before its last rotation, kept so callers can switch over without downtime:
    /// it keeps working until <see cref="PreviousExpiresUtc"/>. Caps, rate limits and attribution stay with the
    /// key, whichever secret a request presents.
    /// </summary>
    public string? PreviousHash { get; set; }

    /// <summary>The shown prefix of the previous secret.</summary>
    public string? PreviousPrefix { get; set; }

    /// <summary>When the previous secret stops working.</summary>
    public DateTime? PreviousExpiresUtc { get; set; }

    /// <summary>When the secret was last rotated; null: never.</summary>
    public DateTime? RotatedUtc { get; set; }
}
