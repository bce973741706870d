namespace Keystone.Web.Features.Tenants;

/// <summary>Claim types Keystone adds to the sign-in cookie.</summary>
public static class KeystoneClaims
{
    /// <summary>The tenant this principal works in (membership tenant, or a platform user's switched-to tenant).</summary>
    public const string TenantId = "ks:tenant";

    /// <summary>That tenant's display name.</summary>
    public const string TenantName = "ks:tenant_name";

    /// <summary>The user's display name.</summary>
    public const string DisplayName = "ks:name";
}
