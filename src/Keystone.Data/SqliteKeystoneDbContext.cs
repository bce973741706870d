using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>The embedded-mode model (SQLite), with its own migration set under <c>Migrations/Sqlite</c>.</summary>
public sealed class SqliteKeystoneDbContext(DbContextOptions options, TenantScope scope)
    : KeystoneDbContext(options, scope)
{
    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        SqliteModel.Apply(builder);
    }
}
