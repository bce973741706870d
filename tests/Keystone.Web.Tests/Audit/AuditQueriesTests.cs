using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Testing;
using Keystone.Web.Features.Audit;

namespace Keystone.Web.Tests.Audit;

public sealed class AuditQueriesTests : IAsyncLifetime
{
    private static readonly Guid Acme = Guid.NewGuid();
    private static readonly Guid Globex = Guid.NewGuid();
    private SqliteTestDatabase _db = default!;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        await using var system = _db.CreateFactory().ForSystem();
        var t0 = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);
        system.AuditLog.AddRange(
            Entry(Acme, "tenant.switch", "founder@x", t0),
            Entry(Acme, "key.create", "admin@acme", t0.AddDays(1)),
            Entry(Globex, "key.create", "admin@globex", t0.AddDays(2)),
            Entry(null, "price.update", "founder@x", t0.AddDays(3)));
        await system.SaveChangesAsync();
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private static AuditEntry Entry(Guid? tenant, string action, string actor, DateTime at) =>
        new() { TenantId = tenant, Action = action, ActorType = "user", ActorId = actor, ActorName = actor, CreatedUtc = at };

    private AuditQueries QueriesFor(TenantScope scope) => new(new ScopedKeystoneDbContextFactory(_db.CreateFactory(), new FixedTenantContext(scope)));

    [Fact]
    public async Task Search_TenantScope_ReturnsOnlyThatTenantsEntries()
    {
        var (rows, total) = await QueriesFor(TenantScope.For(Acme)).SearchAsync(new AuditFilter(null, null, null, null), CancellationToken.None);

        Assert.Equal(2, total);
        Assert.All(rows, r => Assert.NotEqual("admin@globex", r.ActorName));
        Assert.DoesNotContain(rows, r => r.Action == "price.update");
    }

    [Fact]
    public async Task Search_AllTenants_IncludesPlatformEntriesNewestFirst()
    {
        var (rows, total) = await QueriesFor(TenantScope.All).SearchAsync(new AuditFilter(null, null, null, null), CancellationToken.None);

        Assert.Equal(4, total);
        Assert.Equal("price.update", rows[0].Action);
    }

    [Fact]
    public async Task Search_ActionActorAndDates_Filter()
    {
        var queries = QueriesFor(TenantScope.All);
        var from = new DateTime(2026, 11, 2, 0, 0, 0, DateTimeKind.Utc);

        var byAction = await queries.SearchAsync(new AuditFilter("key.", null, null, null), CancellationToken.None);
        var byActor = await queries.SearchAsync(new AuditFilter(null, "founder", null, null), CancellationToken.None);
        var byDate = await queries.SearchAsync(new AuditFilter(null, null, from, from.AddDays(1)), CancellationToken.None);

        Assert.Equal(2, byAction.Total);
        Assert.Equal(2, byActor.Total);
        Assert.Equal("admin@acme", Assert.Single(byDate.Rows).ActorName);
    }

    [Fact]
    public async Task Search_NoScope_ReturnsNothing()
    {
        var (_, total) = await QueriesFor(TenantScope.None).SearchAsync(new AuditFilter(null, null, null, null), CancellationToken.None);

        Assert.Equal(0, total);
    }
}
