using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>The scoped factory components and request handlers use: one context per operation, scoped to the caller's tenant.</summary>
internal sealed class ScopedKeystoneDbContextFactory(KeystoneDbFactory factory, ITenantContext tenant)
    : IDbContextFactory<KeystoneDbContext>
{
    public KeystoneDbContext CreateDbContext() => factory.Create(tenant.Scope);
}
