using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Keystone.Data;

/// <summary>Lets <c>dotnet ef</c> build the SQLite model without the web host.</summary>
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteKeystoneDbContext>
{
    public SqliteKeystoneDbContext CreateDbContext(string[] args)
    {
        var b = new DbContextOptionsBuilder();
        KeystoneDbFactory.ConfigureSqlite(b, "Data Source=design-time.db");
        return new SqliteKeystoneDbContext(b.Options, TenantScope.All);
    }
}

/// <summary>Lets <c>dotnet ef</c> build the PostgreSQL model without a server.</summary>
internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresKeystoneDbContext>
{
    public PostgresKeystoneDbContext CreateDbContext(string[] args)
    {
        var b = new DbContextOptionsBuilder();
        KeystoneDbFactory.ConfigurePostgres(b, "Host=localhost;Database=keystone_design");
        return new PostgresKeystoneDbContext(b.Options, TenantScope.All);
    }
}
