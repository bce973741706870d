using Keystone.Data;
using Keystone.Data.Tenancy;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Keystone.Web.Tests.Data;

/// <summary>
/// Row-level security on the real PostgreSQL server, as the application role (neither owner nor
/// superuser). Raw SQL is used on purpose: it bypasses EF's query filters, so only the database's
/// policies stand between the query and another tenant's rows.
/// </summary>
public sealed class PostgresTenantIsolationTests : IAsyncLifetime
{
    private static readonly Guid TenantA = Guid.NewGuid();
    private static readonly Guid TenantB = Guid.NewGuid();
    private PostgresTestDatabase _db = default!;

    public async Task InitializeAsync()
    {
        _db = await PostgresTestDatabase.CreateAsync();
        var factory = _db.CreateFactory();
        await using var system = factory.ForSystem();
        var plan = new Plan { Id = Guid.NewGuid(), Name = "Test" };
        system.Plans.Add(plan);
        system.Tenants.AddRange(
            new Tenant { Id = TenantA, Name = "A", Slug = "a", PlanId = plan.Id },
            new Tenant { Id = TenantB, Name = "B", Slug = "b", PlanId = plan.Id });
        system.Users.AddRange(
            new Keystone.Data.Identity.KeystoneUser { Id = "user-a", UserName = "a@test", Email = "a@test" },
            new Keystone.Data.Identity.KeystoneUser { Id = "user-b", UserName = "b@test", Email = "b@test" });
        system.Memberships.AddRange(
            new Membership { Id = Guid.NewGuid(), TenantId = TenantA, UserId = "user-a", Role = "TenantAdmin" },
            new Membership { Id = Guid.NewGuid(), TenantId = TenantB, UserId = "user-b", Role = "TenantAdmin" });
        await system.SaveChangesAsync();
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    [Fact]
    public async Task Migrations_Applied_EveryTenantTableForcesRowLevelSecurity()
    {
        await using var owner = new NpgsqlConnection(_db.OwnerConnectionString);
        await owner.OpenAsync();
        await using var db = _db.CreateFactory().ForSystem();
        var tables = PostgresRowLevelSecurity.TenantTables(db);

        Assert.Contains("memberships", tables);
        Assert.Contains("llm_calls", tables);
        foreach (var table in tables)
        {
            await using var cmd = new NpgsqlCommand("SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = @t", owner);
            cmd.Parameters.AddWithValue("t", table);
            Assert.True((bool)(await cmd.ExecuteScalarAsync())!, $"{table} does not force row-level security");
        }
    }

    [Fact]
    public async Task AppRole_IsNeitherOwnerNorSuperuser()
    {
        await using var app = new NpgsqlConnection(_db.AppConnectionString);
        await app.OpenAsync();

        await using var cmd = new NpgsqlCommand("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user", app);
        Assert.False((bool)(await cmd.ExecuteScalarAsync())!);
        await using var owner = new NpgsqlCommand("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'memberships'", app);
        Assert.NotEqual(PostgresTestDatabase.AppRole, (string)(await owner.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task RawQuery_NoTenantSet_ReturnsNoRows()
    {
        await using var db = _db.CreateFactory().Create(TenantScope.None);

        var count = await db.Database.SqlQueryRaw<int>("SELECT count(*)::int AS \"Value\" FROM memberships").SingleAsync();

        Assert.Equal(0, count);
    }

    [Fact]
    public async Task RawQuery_PlainConnectionWithoutSettings_ReturnsNoRows()
    {
        await using var conn = new NpgsqlConnection(_db.AppConnectionString);
        await conn.OpenAsync();

        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM memberships", conn);

        Assert.Equal(0L, (long)(await cmd.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task RawQuery_TenantASet_ReturnsOnlyTenantARows()
    {
        await using var db = _db.CreateFactory().ForTenant(TenantA);

        var tenants = await db.Database.SqlQueryRaw<Guid>("SELECT tenant_id AS \"Value\" FROM memberships").ToListAsync();

        Assert.Equal([TenantA], tenants);
    }

    [Fact]
    public async Task Insert_TenantBRowWhileTenantASet_IsRefusedByTheDatabase()
    {
        await using var db = _db.CreateFactory().ForTenant(TenantA);

        var error = await Assert.ThrowsAsync<PostgresException>(() => db.Database.ExecuteSqlAsync(
            $"INSERT INTO memberships (id, tenant_id, user_id, role, created_utc) VALUES ({Guid.NewGuid()}, {TenantB}, 'user-b', 'TenantMember', now())"));

        Assert.Equal("42501", error.SqlState); // insufficient_privilege: new row violates row-level security policy
    }

    [Fact]
    public async Task SaveChanges_TenantBRowWhileTenantASet_IsRefusedByTheApplication()
    {
        await using var db = _db.CreateFactory().ForTenant(TenantA);
        db.Memberships.Add(new Membership { Id = Guid.NewGuid(), TenantId = TenantB, UserId = "user-b", Role = "TenantMember" });

        await Assert.ThrowsAsync<TenantIsolationException>(() => db.SaveChangesAsync());
    }

    [Fact]
    public async Task PooledConnection_AfterTenantAWork_DoesNotCarryTenantA()
    {
        await using (var a = _db.CreateFactory().ForTenant(TenantA))
        {
            Assert.Equal(1, await a.Memberships.CountAsync());
        }

        await using var none = _db.CreateFactory().Create(TenantScope.None);
        var leaked = await none.Database.SqlQueryRaw<string>("SELECT coalesce(current_setting('app.tenant_id', true), '') AS \"Value\"").SingleAsync();

        Assert.Equal("", leaked);
    }

    [Fact]
    public async Task Transaction_TenantBScope_SeesOnlyTenantB()
    {
        await using var db = _db.CreateFactory().ForTenant(TenantB);
        await using var tx = await db.Database.BeginTransactionAsync();

        var users = await db.Database.SqlQueryRaw<string>("SELECT user_id AS \"Value\" FROM memberships").ToListAsync();

        Assert.Equal(["user-b"], users);
    }

    [Fact]
    public async Task SqliteQueryFilter_TenantScope_HidesOtherTenants()
    {
        await using var sqlite = await SqliteTestDatabase.CreateAsync();
        var factory = sqlite.CreateFactory();
        await using (var system = factory.ForSystem())
        {
            var plan = new Plan { Id = Guid.NewGuid(), Name = "Test" };
            system.Plans.Add(plan);
            system.Tenants.AddRange(new Tenant { Id = TenantA, Name = "A", Slug = "a", PlanId = plan.Id }, new Tenant { Id = TenantB, Name = "B", Slug = "b", PlanId = plan.Id });
            system.Users.AddRange(new Keystone.Data.Identity.KeystoneUser { Id = "user-a", UserName = "a@test" }, new Keystone.Data.Identity.KeystoneUser { Id = "user-b", UserName = "b@test" });
            system.Memberships.AddRange(
                new Membership { Id = Guid.NewGuid(), TenantId = TenantA, UserId = "user-a", Role = "TenantAdmin" },
                new Membership { Id = Guid.NewGuid(), TenantId = TenantB, UserId = "user-b", Role = "TenantAdmin" });
            await system.SaveChangesAsync();
        }

        await using var a = factory.ForTenant(TenantA);
        await using var none = factory.Create(TenantScope.None);

        Assert.Equal(["user-a"], await a.Memberships.Select(m => m.UserId).ToListAsync());
        Assert.Empty(await none.Memberships.ToListAsync());
    }
}
