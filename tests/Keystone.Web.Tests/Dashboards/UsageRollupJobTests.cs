using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Rollups;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Dashboards;

/// <summary>Rollup correctness on both databases: totals equal raw sums, late arrivals land, repeated runs change nothing.</summary>
public abstract class UsageRollupJobTests
{
    protected abstract Task<(KeystoneDbFactory Factory, IAsyncDisposable Database)> CreateAsync();

    private static readonly DateTime Start = new(2026, 10, 30, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public async Task Run_RandomCallsWithLateArrivalsAndRepeats_TotalsEqualRawSums()
    {
        var (factory, database) = await CreateAsync();
        await using var _ = database;
        var random = new Random(20261122);
        var job = RollupTestData.Job(factory);
        var all = RollupTestData.Calls(random, 400, Start, 72);
        await RollupTestData.InsertAsync(factory, all);

        await job.RunAsync(CancellationToken.None);
        await AssertMatchesAsync(factory, all);

        // Late arrivals: calls recorded now for hours already rolled up, plus some for new hours.
        var late = RollupTestData.Calls(random, 150, Start, 72).Concat(RollupTestData.Calls(random, 50, Start.AddDays(3), 30)).ToList();
        await RollupTestData.InsertAsync(factory, late);
        all.AddRange(late);
        await job.RunAsync(CancellationToken.None);
        await AssertMatchesAsync(factory, all);

        var before = await SnapshotAsync(factory);
        await job.RunAsync(CancellationToken.None);
        await job.RunAsync(CancellationToken.None);
        Assert.Equal(before, await SnapshotAsync(factory));
        await AssertMatchesAsync(factory, all);
    }

    [Fact]
    public async Task Run_NothingNew_AddsNothingAndKeepsWatermark()
    {
        var (factory, database) = await CreateAsync();
        await using var _ = database;
        var job = RollupTestData.Job(factory);
        var calls = RollupTestData.Calls(new Random(7), 60, Start, 10);
        await RollupTestData.InsertAsync(factory, calls);

        var first = await job.RunAsync(CancellationToken.None);
        var second = await job.RunAsync(CancellationToken.None);

        Assert.Equal(calls.Select(c => new DateTime(c.CreatedUtc.Year, c.CreatedUtc.Month, c.CreatedUtc.Day, c.CreatedUtc.Hour, 0, 0)).Distinct().Count(), first.Hours);
        Assert.NotNull(first.WatermarkUtc);
        Assert.Equal(0, second.Hours);
        Assert.Equal(0, second.Days);
        Assert.Equal(first.WatermarkUtc, second.WatermarkUtc);
        await using var db = factory.ForSystem();
        var state = await db.RollupStates.SingleAsync();
        Assert.Equal(0, state.LastRunCalls);
    }

    [Fact]
    public async Task Run_UserRollup_TotalsEqualRawSumsPerUserAndPayer()
    {
        var (factory, database) = await CreateAsync();
        await using var _ = database;
        var calls = RollupTestData.Calls(new Random(11), 300, Start, 48);
        await RollupTestData.InsertAsync(factory, calls);

        await RollupTestData.Job(factory).RunAsync(CancellationToken.None);

        await using var db = factory.ForSystem();
        var rows = await db.UserUsageRollups.AsNoTracking().ToListAsync();
        var expected = calls.GroupBy(c => (c.TenantId, c.CreatedUtc.Date, c.UserId ?? "", c.EndUser ?? "", c.BilledTo))
            .ToDictionary(g => g.Key, g => (g.Count(), g.Sum(c => c.CostMicros), g.Sum(c => (long)c.InputTokens)));
        var actual = rows.GroupBy(r => (r.TenantId, r.DayUtc.Date, r.UserId, r.EndUser, r.BilledTo))
            .ToDictionary(g => g.Key, g => ((int)g.Sum(r => r.Calls), g.Sum(r => r.CostMicros), g.Sum(r => r.InputTokens)));
        Assert.Equal(expected.OrderBy(k => k.Key.ToString()), actual.OrderBy(k => k.Key.ToString()));
    }

    [Fact]
    public async Task Run_TenantScopedContext_SeesOnlyItsOwnRollups()
    {
        var (factory, database) = await CreateAsync();
        await using var _ = database;
        var calls = RollupTestData.Calls(new Random(3), 120, Start, 24);
        await RollupTestData.InsertAsync(factory, calls);
        await RollupTestData.Job(factory).RunAsync(CancellationToken.None);
        var tenant = RollupTestData.Tenants[1];

        await using var db = factory.ForTenant(tenant);
        var rows = await db.UsageRollups.AsNoTracking().Where(r => r.Grain == RollupGrain.Day).ToListAsync();
        var users = await db.UserUsageRollups.AsNoTracking().ToListAsync();

        Assert.All(rows, r => Assert.Equal(tenant, r.TenantId));
        Assert.All(users, r => Assert.Equal(tenant, r.TenantId));
        Assert.Equal(calls.Count(c => c.TenantId == tenant), rows.Sum(r => r.Calls));
    }

    private static async Task AssertMatchesAsync(KeystoneDbFactory factory, List<LlmCall> calls)
    {
        await using var db = factory.ForSystem();
        var rows = await db.UsageRollups.AsNoTracking().ToListAsync();
        var expected = RollupTestData.RawTotals(calls);
        var hourly = RollupTestData.RollupTotals(rows.Where(r => r.Grain == RollupGrain.Hour));
        var daily = RollupTestData.RollupTotals(rows.Where(r => r.Grain == RollupGrain.Day));

        Assert.Equal(Sorted(expected), Sorted(hourly));
        Assert.Equal(Sorted(expected), Sorted(daily));
        Assert.All(rows.Where(r => r.Grain == RollupGrain.Hour), r => Assert.Equal(0, r.BucketStartUtc.Minute + r.BucketStartUtc.Second + r.BucketStartUtc.Millisecond));
        Assert.All(rows.Where(r => r.Grain == RollupGrain.Day), r => Assert.Equal(TimeSpan.Zero, r.BucketStartUtc.TimeOfDay));
    }

    private static List<KeyValuePair<(Guid, DateTime), RollupTestData.Totals>> Sorted(Dictionary<(Guid, DateTime), RollupTestData.Totals> d) =>
        d.OrderBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Item2).ToList();

    private static async Task<List<string>> SnapshotAsync(KeystoneDbFactory factory)
    {
        await using var db = factory.ForSystem();
        var rows = await db.UsageRollups.AsNoTracking().ToListAsync();
        var users = await db.UserUsageRollups.AsNoTracking().ToListAsync();
        return rows.Select(r => $"{r.TenantId}|{r.Grain}|{r.BucketStartUtc:O}|{r.Feature}|{r.Alias}|{r.Provider}|{r.Model}|{r.BilledTo}|{r.Calls}|{r.CostMicros}|{r.Lat3}|{r.Ttft1}")
            .Concat(users.Select(u => $"{u.TenantId}|{u.DayUtc:O}|{u.UserId}|{u.EndUser}|{u.Feature}|{u.Model}|{u.Calls}|{u.CostMicros}"))
            .Order(StringComparer.Ordinal).ToList();
    }
}

public sealed class UsageRollupJobSqliteTests : UsageRollupJobTests
{
    protected override async Task<(KeystoneDbFactory, IAsyncDisposable)> CreateAsync()
    {
        var db = await SqliteTestDatabase.CreateAsync();
        return (db.CreateFactory(), db);
    }
}

public sealed class UsageRollupJobPostgresTests : UsageRollupJobTests
{
    protected override async Task<(KeystoneDbFactory, IAsyncDisposable)> CreateAsync()
    {
        var db = await PostgresTestDatabase.CreateAsync();
        return (db.CreateFactory(), db);
    }
}
