namespace Keystone.Web.Platform;

/// <summary>Claim types Keystone adds to the sign-in cookie and to an API key's principal.</summary>
internal static class KeystoneClaims
{
    /// <summary>The tenant this principal works in (membership tenant, or a platform user's switched-to tenant).</summary>
    public const string TenantId = "ks:tenant";

    /// <summary>That tenant's display name.</summary>
    public const string TenantName = "ks:tenant_name";

    /// <summary>The user's display name.</summary>
    public const string DisplayName = "ks:name";

    /// <summary>The API key an <c>/api/v1</c> or <c>/v1</c> request authenticated with (the audit log names it as the actor).</summary>
    public const string ApiKeyId = "keystone:api_key_id";
}
