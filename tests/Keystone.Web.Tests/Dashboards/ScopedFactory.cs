using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Dashboards;

/// <summary>The request-scoped factory's behaviour for a fixed scope: the real factory, bound to one tenant scope.</summary>
internal sealed class ScopedFactory(KeystoneDbFactory factory, TenantScope scope) : IDbContextFactory<KeystoneDbContext>
{
    public KeystoneDbContext CreateDbContext() => factory.Create(scope);
}
