namespace Keystone.Data;

/// <summary>
/// Which tenants' rows a unit of work may see. Exactly one of: a single tenant, all tenants (platform
/// roles viewing the whole business, and system jobs), or none (an anonymous or unresolved caller: sees
/// no tenant-owned rows at all).
/// </summary>
public readonly record struct TenantScope
{
    private TenantScope(Guid? tenantId, bool allTenants)
    {
        TenantId = tenantId;
        AllTenants = allTenants;
    }

    /// <summary>The single tenant in scope, when the scope is one tenant.</summary>
    public Guid? TenantId { get; }

    /// <summary>True when every tenant's rows are visible (platform roles and system jobs only).</summary>
    public bool AllTenants { get; }

    /// <summary>The scope that sees no tenant-owned rows.</summary>
    public static TenantScope None => default;

    /// <summary>The scope that sees every tenant.</summary>
    public static TenantScope All => new(null, true);

    /// <summary>The scope of one tenant.</summary>
    public static TenantScope For(Guid tenantId) => new(tenantId, false);

    /// <inheritdoc />
    public override string ToString() => AllTenants ? "all" : TenantId?.ToString() ?? "none";
}
