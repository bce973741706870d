namespace Keystone.Data;

/// <summary>
/// A row that belongs to exactly one tenant. Every such entity is filtered by the tenant scope of the
/// <see cref="KeystoneDbContext"/> that reads it and, on PostgreSQL, by a forced row-level-security
/// policy, so a query that forgets its filter returns nothing rather than another tenant's data.
/// </summary>
public interface ITenantOwned : ITenantFiltered
{
    /// <summary>The owning tenant.</summary>
    Guid TenantId { get; }
}
