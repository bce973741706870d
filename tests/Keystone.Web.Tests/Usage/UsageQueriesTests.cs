using Keystone.Web.Platform;
using Keystone.Data.Rollups;
using Keystone.Web.Features.Usage;
using Keystone.Web.Tests.Api;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Usage;

/// <summary>The usage page's numbers over the real app (SQLite), as Acme's admin and as one of its members.</summary>
public sealed class UsageQueriesTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    // A range of its own, long past, so rows other tests roll up do not meet these.
    private static readonly DateTime Day = new(2025, 1, 10, 0, 0, 0, DateTimeKind.Utc);
    private static readonly ReportRange Range = new(Day, Day.AddDays(3));

    private static UsageRollup DayRow(Guid tenant, DateTime day, string feature, long hits, long saved) => new()
    {
        TenantId = tenant, Grain = RollupGrain.Day, BucketStartUtc = day, Feature = feature, Alias = "fast", Provider = "sim",
        Model = "sim-fast", Calls = hits + 1, CacheHits = hits, SavedCostMicros = saved, CostMicros = 10,
    };

    private async Task<TenantUsage?> UsageAsAsync(System.Security.Claims.ClaimsPrincipal user)
    {
        await using var scope = fixture.App.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(user);
        return await scope.ServiceProvider.GetRequiredService<UsageQueries>().UsageAsync(Range, CancellationToken.None);
    }

    [Fact]
    public async Task UsageAsync_TenantAdmin_SeesTheTenantsCacheHitsAndSavingsInTheRangeOnly()
    {
        await using (var db = fixture.App.CreateSystemDb())
        {
            db.UsageRollups.AddRange(
                DayRow(DemoData.AcmeId, Day, "faq", hits: 3, saved: 1_200_000),
                DayRow(DemoData.AcmeId, Day.AddDays(1), "support-bot", hits: 2, saved: 300_000),
                DayRow(DemoData.AcmeId, Day.AddDays(5), "faq", hits: 7, saved: 9_000_000),
                DayRow(DemoData.GlobexId, Day, "faq", hits: 11, saved: 50_000_000));
            await db.SaveChangesAsync();
        }

        var admin = await UsageAsAsync(KeysTestPrincipals.AcmeAdmin());
        var member = await UsageAsAsync(new(new System.Security.Claims.ClaimsIdentity(
        [
            new(System.Security.Claims.ClaimTypes.NameIdentifier, "test-acme-member"),
            new(System.Security.Claims.ClaimTypes.Role, Keystone.Data.Identity.Roles.TenantMember),
            new(KeystoneClaims.TenantId, DemoData.AcmeId.ToString()),
        ], "test")));

        Assert.Equal(new CacheSavings(5, 1_500_000), admin!.Cache);
        // A member sees only their own calls; the cache rollups are per tenant, so no tenant-wide savings for them.
        Assert.True(member!.OwnOnly);
        Assert.Null(member.Cache);
    }

    [Fact]
    public async Task UsageAsync_CallsNoModelAnswered_AreNamedForWhatTheyAreInTheModelTable()
    {
        var day = Day.AddDays(2);
        await using (var db = fixture.App.CreateSystemDb())
        {
            db.UserUsageRollups.AddRange(
                new UserUsageRollup { TenantId = DemoData.AcmeId, DayUtc = day, Feature = "faq", Model = "sim/sim-fast", Calls = 4, CostMicros = 400 },
                new UserUsageRollup { TenantId = DemoData.AcmeId, DayUtc = day, Feature = "faq", Model = "", Calls = 6, Errors = 1 });
            await db.SaveChangesAsync();
        }

        var usage = await UsageAsAsync(KeysTestPrincipals.AcmeAdmin());

        Assert.Equal(
            [("sim/sim-fast", "sim/sim-fast", 4L, 400L), ("", UsageSlice.NoModelLabel, 6L, 0L)],
            usage!.ByModel.Select(m => (m.Key, m.Label, m.Calls, m.CostMicros)));
    }
}
