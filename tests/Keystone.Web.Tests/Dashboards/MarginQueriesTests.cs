using Keystone.Data;
using Keystone.Testing;
using Keystone.Web.Features.Dashboard;
using Keystone.Web.Features.Usage;
using Keystone.Web.Features.Margin;

namespace Keystone.Web.Tests.Dashboards;

/// <summary>Margin, overview and projection numbers from rollups, on both databases.</summary>
public abstract class MarginQueriesTests
{
    protected abstract Task<(KeystoneDbFactory Factory, IAsyncDisposable Database)> CreateAsync();

    private static readonly ReportRange November = new(MarginData.Nov1, MarginData.Nov1.AddMonths(1));

    private async Task<(KeystoneDbFactory, IAsyncDisposable)> SeededAsync()
    {
        var (factory, database) = await CreateAsync();
        await MarginData.SeedAsync(factory);
        await RollupTestData.Job(factory).RunAsync(CancellationToken.None);
        return (factory, database);
    }

    [Fact]
    public async Task TenantsAsync_November_RevenueCostAndFlagsPerTenant()
    {
        var (factory, database) = await SeededAsync();
        await using var _ = database;
        var queries = new MarginQueries(new ScopedFactory(factory, TenantScope.All));

        var rows = await queries.TenantsAsync(November, CancellationToken.None);

        var acme = rows.Single(r => r.TenantId == MarginData.Acme);
        Assert.Equal(11_500_000, acme.CostMicros);
        Assert.Equal(90_000_000, acme.RevenueMicros);
        Assert.Equal("support-bot", acme.TopFeature);
        Assert.Equal(10_000_000, acme.TopFeatureCostMicros);
        Assert.False(acme.Flagged);
        Assert.Equal(30, acme.DailyCostMicros.Count);
        Assert.Equal(10_000_000, acme.DailyCostMicros[1]);

        var globex = rows.Single(r => r.TenantId == MarginData.Globex);
        Assert.Equal(5_000_000, globex.CostMicros);
        Assert.Equal(0, globex.RevenueMicros);
        Assert.True(globex.Flagged);
        Assert.Equal(-5_000_000, globex.MarginMicros);
    }

    [Fact]
    public async Task TenantsAsync_TenantScope_ShowsOnlyThatTenant()
    {
        var (factory, database) = await SeededAsync();
        await using var _ = database;
        var queries = new MarginQueries(new ScopedFactory(factory, TenantScope.For(MarginData.Globex)));

        var rows = await queries.TenantsAsync(November, CancellationToken.None);
        var other = await queries.TenantAsync(MarginData.Acme, November, CancellationToken.None);

        Assert.Equal(MarginData.Globex, Assert.Single(rows).TenantId);
        Assert.Null(other);
    }

    [Fact]
    public async Task TenantAsync_Acme_BreaksDownByFeatureModelAndUser()
    {
        var (factory, database) = await SeededAsync();
        await using var _ = database;
        var queries = new MarginQueries(new ScopedFactory(factory, TenantScope.All));

        var acme = await queries.TenantAsync(MarginData.Acme, November, CancellationToken.None);

        Assert.NotNull(acme);
        var support = acme.ByFeature.Single(f => f.Key == "support-bot");
        Assert.Equal(2, support.Calls);
        Assert.Equal(5_000_000, support.CostPerCallMicros);
        Assert.Equal(2, support.ActiveUsers);
        Assert.Equal(1_000_000, acme.ByFeature.Single(f => f.Key == "summarize").CostMicros);
        Assert.Equal(9_000_000, acme.ByModel.Single(m => m.Key == "simulated/sim-large").CostMicros);
        Assert.Equal(4, acme.ActiveUsers);
        // end-3's 50 USD were on Acme's own key: top users rank by what the platform pays, like the feature table.
        Assert.Equal("end-2", acme.TopUsers[0].Label);
        Assert.Equal(8_000_000, acme.TopUsers[0].CostMicros);
        Assert.Equal(0, acme.TopUsers.Single(u => u.Label == "end-3").CostMicros);
        Assert.Equal(11_500_000, acme.Days.Sum(d => d.CostMicros));
        Assert.Equal(90_000_000, acme.Days.Sum(d => d.RevenueMicros));
    }

    [Fact]
    public async Task OverviewAsync_November_TotalsMatchTheTenantRows()
    {
        var (factory, database) = await SeededAsync();
        await using var _ = database;
        var scoped = new ScopedFactory(factory, TenantScope.All);

        var overview = await new DashboardQueries(scoped).OverviewAsync(November, CancellationToken.None);
        var rows = await new MarginQueries(scoped).TenantsAsync(November, CancellationToken.None);

        Assert.Equal(rows.Sum(r => r.CostMicros), overview.CostMicros);
        Assert.Equal(rows.Sum(r => r.RevenueMicros), overview.RevenueMicros);
        Assert.Equal(50_000_000, overview.ByokCostMicros);
        Assert.Equal(7, overview.Calls);
        Assert.Equal(overview.CostMicros, overview.ByModel.Sum(s => s.TotalMicros));
        Assert.Equal(overview.CostMicros, overview.ByFeature.Sum(s => s.TotalMicros));
        Assert.Equal(overview.CostMicros, overview.ByProvider.Sum(s => s.TotalMicros));
        Assert.All(overview.Latency, l => Assert.Equal(500, l.P95Ms));
    }

    [Fact]
    public async Task ProjectionBaseAsync_November_CountsActiveUsersAndFastShare()
    {
        var (factory, database) = await SeededAsync();
        await using var _ = database;

        var b = await new MarginQueries(new ScopedFactory(factory, TenantScope.All)).ProjectionBaseAsync(November, CancellationToken.None);

        Assert.Equal(6, b.ActiveUsers);
        Assert.Equal(6, b.Calls);
        Assert.Equal(3, b.FastCalls);
        Assert.Equal(3_500_000, b.FastCostMicros);
        Assert.Equal(16_500_000, b.CostMicros);
    }
}

public sealed class MarginQueriesSqliteTests : MarginQueriesTests
{
    protected override async Task<(KeystoneDbFactory, IAsyncDisposable)> CreateAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db.CreateFactory(), db);
    }
}

public sealed class MarginQueriesPostgresTests : MarginQueriesTests
{
    protected override async Task<(KeystoneDbFactory, IAsyncDisposable)> CreateAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db.CreateFactory(), db);
    }
}
