namespace Keystone.Data.Tenancy;

/// <summary>A user's role in one tenant.</summary>
public sealed class Membership : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public string UserId { get; set; } = "";

    /// <summary><c>TenantAdmin</c> or <c>TenantMember</c>.</summary>
    public string Role { get; set; } = "";

    public DateTime CreatedUtc { get; set; }
}
