using Microsoft.AspNetCore.Identity;

namespace Keystone.Data.Identity;

/// <summary>A console user: platform staff or a member of one tenant.</summary>
public sealed class KeystoneUser : IdentityUser
{
    /// <summary>Name shown in the console.</summary>
    public string DisplayName { get; set; } = "";

    /// <summary>
    /// For platform roles only: the tenant they have switched into (null means "all tenants"). Kept on
    /// the user so the sign-in cookie can be refreshed from it after an audited switch.
    /// </summary>
    public Guid? SelectedTenantId { get; set; }

    /// <summary>When the account was created (UTC).</summary>
    public DateTime CreatedUtc { get; set; }
}
