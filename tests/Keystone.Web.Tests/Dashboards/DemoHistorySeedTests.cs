using Keystone.Web.Platform;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Rollups;
using Keystone.Data.Tenancy;
using Keystone.Testing;
using Keystone.Web.Features.Usage;
using Keystone.Web.Features.Usage.DemoHistory;
using Keystone.Web.Features.Margin;
using Keystone.Web.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Dashboards;

/// <summary>The demo history goes through the real gateway (simulated providers) with the clock set back.</summary>
public sealed class DemoHistorySeedTests : IAsyncLifetime
{
    private const string MemberId = "member-of-acme";

    private SqliteTestDatabase _db = default!;
    private KeystoneDbFactory _factory = default!;

    public async Task InitializeAsync()
    {
        _db = await SqliteTestDatabase.CreateAsync();
        _factory = _db.CreateFactory();
        await using var db = _factory.ForSystem();
        db.Plans.AddRange(
            new Plan { Id = DemoData.FreePlanId, Name = "Free", MonthlyPriceMicros = 0, IncludedUsageMicros = 1_000_000 },
            new Plan { Id = DemoData.ProPlanId, Name = "Pro", MonthlyPriceMicros = 99_000_000, IncludedUsageMicros = 30_000_000, OverageMarkupBasisPoints = 2_000 },
            new Plan { Id = DemoData.EnterprisePlanId, Name = "Enterprise", MonthlyPriceMicros = 1_500_000_000, IncludedUsageMicros = 800_000_000, OverageMarkupBasisPoints = 1_000 },
            new Plan { Id = DemoData.TeamPlanId, Name = "Team (flat)", MonthlyPriceMicros = 15_000_000 });
        db.Tenants.AddRange(
            new Tenant { Id = DemoData.AcmeId, Name = "Acme", Slug = "acme", PlanId = DemoData.ProPlanId, IsDemo = true },
            new Tenant { Id = DemoData.GlobexId, Name = "Globex", Slug = "globex", PlanId = DemoData.FreePlanId, IsDemo = true },
            new Tenant { Id = DemoData.InitechId, Name = "Initech", Slug = "initech", PlanId = DemoData.EnterprisePlanId, IsDemo = true },
            new Tenant { Id = DemoData.UmbrellaId, Name = "Umbrella", Slug = "umbrella", PlanId = DemoData.TeamPlanId, IsDemo = true });
        db.Users.Add(new Keystone.Data.Identity.KeystoneUser { Id = MemberId, Email = "member@acme.demo", UserName = "member@acme.demo" });
        await db.SaveChangesAsync();
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    private DemoHistorySeed Seed(int days) => new(_factory, Options.Create(new SeedOptions { DemoHistoryDays = days }), TimeProvider.System,
        NullLoggerFactory.Instance, RollupTestData.Job(_factory), NullLogger<DemoHistorySeed>.Instance);

    [Fact]
    public async Task RunAsync_FourteenDays_RecordsPricedHistoryWithCacheHitsFallbacksAndErrors()
    {
        var today = DateTime.UtcNow.Date;

        await Seed(14).RunAsync(CancellationToken.None);

        await using var db = _factory.ForSystem();
        var calls = await db.Calls.AsNoTracking().ToListAsync();
        Assert.InRange(calls.Count, 240, 800);
        Assert.All(calls, c => Assert.InRange(c.CreatedUtc, today.AddDays(-14), today));
        Assert.Equal(4, calls.Select(c => c.TenantId).Distinct().Count());
        Assert.Equal(["classify", "playground", "research-agent", "search", "summarize", "support-bot"], calls.Select(c => c.Feature).Distinct().Order(StringComparer.Ordinal));
        Assert.Contains(calls, c => c.CacheStatus == CacheStatus.Exact && c.SavedCostMicros > 0);
        Assert.Contains(calls, c => c.FellBack && c.Status == CallStatus.Ok && c.Provider == "sim-us");
        Assert.Contains(calls, c => c.Status == CallStatus.Error);
        Assert.All(calls.Where(c => c.Status == CallStatus.Ok && c.CacheStatus == CacheStatus.None), c => Assert.True(c.CostMicros > 0));
        Assert.DoesNotContain(calls, c => c.CostStatus == CostStatus.Unknown);
        Assert.True(calls.Select(c => c.EndUser).Distinct().Count() > 40);
        Assert.Contains(calls, c => c.UserId == MemberId && c.Feature == "playground");
    }

    [Fact]
    public async Task RunAsync_Then_RollupsMatchCallsAndGlobexLosesMoney()
    {
        await Seed(5).RunAsync(CancellationToken.None);

        await using var db = _factory.ForSystem();
        var rawCost = await db.Calls.SumAsync(c => c.CostMicros);
        var rolledCost = await db.UsageRollups.Where(r => r.Grain == RollupGrain.Day).SumAsync(r => r.CostMicros);
        Assert.Equal(rawCost, rolledCost);
        var today = DateTime.UtcNow.Date;
        var rows = await new MarginQueries(new ScopedFactory(_factory, TenantScope.All))
            .TenantsAsync(new ReportRange(today.AddDays(-5), today), CancellationToken.None);
        var globex = rows.Single(r => r.TenantId == DemoData.GlobexId);
        Assert.True(globex.CostMicros > 0);
        Assert.True(globex.MarginMicros < 0);
        Assert.True(globex.Flagged);
        Assert.True(rows.Single(r => r.TenantId == DemoData.AcmeId).MarginMicros > 0);
    }

    [Fact]
    public async Task RunAsync_CallsAlreadyExist_DoesNothing()
    {
        await Seed(2).RunAsync(CancellationToken.None);
        await using var db = _factory.ForSystem();
        var before = await db.Calls.CountAsync();

        await Seed(2).RunAsync(CancellationToken.None);

        Assert.Equal(before, await db.Calls.CountAsync());
    }

    [Fact]
    public async Task RunAsync_ZeroDays_RecordsNothing()
    {
        await Seed(0).RunAsync(CancellationToken.None);

        await using var db = _factory.ForSystem();
        Assert.False(await db.Calls.AnyAsync());
    }
}
