namespace Keystone.Data.Routing;

/// <summary>Which models a tenant may call and its own alias chains (overriding the gateway's configuration).</summary>
public sealed class TenantModelPolicy : ITenantOwned
{
    public Guid TenantId { get; set; }

    /// <summary>Space-separated aliases and <c>provider/model</c> ids the tenant may call; null allows every configured alias (and no raw models).</summary>
    public string? AllowedModels { get; set; }

    /// <summary>JSON object alias → ordered <c>provider/model</c> targets, replacing the configured chain for this tenant.</summary>
    public string? AliasOverridesJson { get; set; }

    public DateTime UpdatedUtc { get; set; }
}
