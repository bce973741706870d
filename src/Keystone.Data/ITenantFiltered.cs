namespace Keystone.Data;

/// <summary>
/// Marker for rows filtered by tenant scope through a <c>TenantId</c> property (non-null for
/// <see cref="ITenantOwned"/>, nullable for platform-or-tenant rows such as the audit log, whose
/// platform-wide rows are visible only to the all-tenants scope).
/// </summary>
public interface ITenantFiltered;
