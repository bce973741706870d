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

    /// <summary>
    /// The lease's end sends nothing of its own (decision 62): the pool's reset, sent in front of the next command, is what
    /// ends the tenant. Checked on the very same server session (one pooled connection, the same backend pid), read by a
    /// connection opened outside EF, so no interceptor sets anything first: after a tenant's lease and after a lease
    /// across all tenants, and after a lease that ran a transaction.
    /// </summary>
    [Theory]
    [InlineData("tenant")]
    [InlineData("system")]
    [InlineData("transaction")]
    public async Task PooledSession_AfterALeaseEnds_CarriesNoTenantIntoTheNextUser(string lease)
    {
        var connections = _db.Connections;
        var single = new KeystoneConnectionStrings
        {
            BaseDirectory = connections.BaseDirectory,
            Postgres = KeystoneConnectionStrings.Pooled(_db.AppConnectionString, 1, TimeSpan.FromSeconds(15), "-reset-" + lease),
        };
        var factory = new KeystoneDbFactory(Microsoft.Extensions.Options.Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres }), single);
        int leasePid;
        await using (var db = lease == "system" ? factory.ForSystem() : factory.ForTenant(TenantA))
        {
            if (lease == "transaction")
            {
                await using var tx = await db.Database.BeginTransactionAsync();
                Assert.Equal(["user-a"], await db.Database.SqlQueryRaw<string>("SELECT user_id AS \"Value\" FROM memberships").ToListAsync());
                leasePid = (await db.Database.SqlQueryRaw<int>("SELECT pg_backend_pid() AS \"Value\"").ToListAsync()).Single();
                await tx.CommitAsync();
            }
            else
            {
                Assert.Equal(lease == "system" ? 2 : 1, await db.Database.SqlQueryRaw<string>("SELECT user_id AS \"Value\" FROM memberships").CountAsync());
                leasePid = (await db.Database.SqlQueryRaw<int>("SELECT pg_backend_pid() AS \"Value\"").ToListAsync()).Single();
            }
        }

        // From the contexts' own data source (its pool), opened outside EF.
        await using var next = factory.Create(TenantScope.None);
        var raw = (NpgsqlConnection)next.Database.GetDbConnection();
        await raw.OpenAsync();
        await using var read = new NpgsqlCommand(
            "SELECT pg_backend_pid(), coalesce(current_setting('app.tenant_id', true), ''), coalesce(current_setting('app.all_tenants', true), ''), (SELECT count(*) FROM memberships)", raw);
        await using var reader = await read.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());

        Assert.Equal(leasePid, reader.GetInt32(0));
        Assert.Equal("", reader.GetString(1));
        Assert.NotEqual("on", reader.GetString(2));
        Assert.Equal(0, reader.GetInt64(3));
    }

    /// <summary>
    /// A connection opened by hand (the interceptor does not run) and then used by EF for a transaction: the transaction
    /// sets the tenant for itself, and the session keeps nothing after it.
    /// </summary>
    [Fact]
    public async Task Transaction_OnAConnectionOpenedOutsideEf_SetsTheTenantForItselfOnly()
    {
        await using var db = _db.CreateFactory().ForTenant(TenantB);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await connection.OpenAsync();
        List<string> users;
        await using (var tx = await db.Database.BeginTransactionAsync())
        {
            users = await db.Database.SqlQueryRaw<string>("SELECT user_id AS \"Value\" FROM memberships").ToListAsync();
            await tx.CommitAsync();
        }

        var after = await db.Database.SqlQueryRaw<string>("SELECT coalesce(current_setting('app.tenant_id', true), '') AS \"Value\"").ToListAsync();
        await connection.CloseAsync();

        Assert.Equal(["user-b"], users);
        Assert.Equal([""], after);
    }

    /// <summary>A pool whose reset was turned off by hand still ends each lease's tenant: the lease clears it itself.</summary>
    [Fact]
    public async Task PooledSession_WithNoResetOnClose_IsClearedByTheLeaseItself()
    {
        var builder = new NpgsqlConnectionStringBuilder(_db.AppConnectionString)
        {
            MaxPoolSize = 1, NoResetOnClose = true, ApplicationName = "keystone-no-reset",
        };
        var factory = new KeystoneDbFactory(Microsoft.Extensions.Options.Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres }),
            new KeystoneConnectionStrings { BaseDirectory = _db.Connections.BaseDirectory, Postgres = builder.ConnectionString });
        int leasePid;
        await using (var db = factory.ForTenant(TenantA))
        {
            Assert.Equal(1, await db.Memberships.CountAsync());
            leasePid = (await db.Database.SqlQueryRaw<int>("SELECT pg_backend_pid() AS \"Value\"").ToListAsync()).Single();
        }

        await using var next = factory.Create(TenantScope.None);
        var raw = (NpgsqlConnection)next.Database.GetDbConnection();
        await raw.OpenAsync();
        await using var read = new NpgsqlCommand("SELECT pg_backend_pid(), coalesce(current_setting('app.tenant_id', true), '')", raw);
        await using var reader = await read.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());

        Assert.Equal(leasePid, reader.GetInt32(0));
        Assert.Equal("", reader.GetString(1));
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
