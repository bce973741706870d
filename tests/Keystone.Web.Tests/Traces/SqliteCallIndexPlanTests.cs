using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Testing;
using Keystone.Web.Features.Traces;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Logging.Abstractions;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Traces;

/// <summary>
/// SQLite's query plans for the queries whose indexes were slimmed for storage (issue 26, decision 63): the trace search's
/// sorts read a page straight off an index with the rowid as the tie-breaker (no sort of the matching rows), and trace
/// retention finds old traces by a range on the time index. SQLite only: the PostgreSQL indexes did not change.
/// </summary>
public sealed class SqliteCallIndexPlanTests : IAsyncLifetime
{
    private SqliteTestDatabase _database = default!;
    private KeystoneDbFactory _factory = default!;

    public async Task InitializeAsync()
    {
        _database = await SqliteTestDatabase.CreateAsync();
        _factory = _database.CreateFactory();
        await SeedTenantsAsync(_factory);
        await AddAsync(_factory, [.. Enumerable.Range(0, 20).Select(i => Call(i % 2 == 0 ? Acme : Globex, T0.AddMinutes(i)))]);
    }

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Theory]
    [InlineData(true, TraceSort.Time, "ix_llm_calls_tenant_id_created_utc")]
    [InlineData(true, TraceSort.Cost, "ix_llm_calls_tenant_id_cost_micros")]
    [InlineData(true, TraceSort.Latency, "ix_llm_calls_tenant_id_latency_ms")]
    [InlineData(false, TraceSort.Time, "ix_llm_calls_created_utc")]
    [InlineData(false, TraceSort.Cost, "ix_llm_calls_cost_micros")]
    [InlineData(false, TraceSort.Latency, "ix_llm_calls_latency_ms")]
    public async Task TraceSearchPage_IsReadOffItsSortIndexWithoutSorting(bool oneTenant, TraceSort sort, string index)
        => await AssertReadOffIndexAsync(oneTenant, sort, index);

    [Theory]
    [InlineData(true, TraceSort.Time, "ix_llm_calls_tenant_id_created_utc")]
    [InlineData(true, TraceSort.Cost, "ix_llm_calls_tenant_id_cost_micros")]
    [InlineData(false, TraceSort.Time, "ix_llm_calls_created_utc")]
    [InlineData(false, TraceSort.Latency, "ix_llm_calls_latency_ms")]
    public async Task TraceSearchPage_WithThePlannerStatisticsTheProductKeeps_IsStillReadOffItsSortIndex(bool oneTenant, TraceSort sort, string index)
    {
        // Decision 73: the product analyzes the database hourly; the plans above must hold with sqlite_stat1 filled too.
        await using (var db = _factory.ForSystem())
        {
            await db.Database.OpenConnectionAsync();
            var refresh = SqlitePlannerStatistics.Refresh((Microsoft.Data.Sqlite.SqliteConnection)db.Database.GetDbConnection(), TimeProvider.System);
            Assert.Contains("llm_calls", refresh.AnalyzedTables);
        }

        await AssertReadOffIndexAsync(oneTenant, sort, index);
    }

    private async Task AssertReadOffIndexAsync(bool oneTenant, TraceSort sort, string index)
    {
        foreach (var cursor in new[] { null, "1000_r7", "1000_" + Guid.NewGuid().ToString("N") })
        {
            await using var db = _factory.Create(oneTenant ? TenantScope.For(Acme) : TenantScope.All);
            var query = TraceQueries.PageQuery(db, new TraceFilter { Sort = sort }, TraceCursor.Parse(cursor, sort), 51);

            var plan = await PlanAsync(db, query);

            Assert.Contains(plan, line => line.Contains("USING INDEX " + index + " ", StringComparison.Ordinal)
                || line.EndsWith("USING INDEX " + index, StringComparison.Ordinal));
            Assert.DoesNotContain(plan, line => line.Contains("TEMP B-TREE", StringComparison.Ordinal));
            Assert.DoesNotContain(plan, line => line.StartsWith("SCAN ", StringComparison.Ordinal) && !line.Contains("INDEX", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task TraceSearchPage_FollowsTheRowKeyCursorAcrossTies()
    {
        // Every call of the seed has the same cost: the second page must continue by rowid within the tie.
        var queries = new TraceQueries(Scoped(_factory, TenantScope.For(Acme)));
        var first = await queries.SearchAsync(new TraceFilter { Sort = TraceSort.Cost }, null, 4, default);
        var second = await queries.SearchAsync(new TraceFilter { Sort = TraceSort.Cost }, first.NextCursor, 4, default);

        Assert.StartsWith(first.Rows[^1].CostMicros + "_r", first.NextCursor, StringComparison.Ordinal);
        var keys = first.Rows.Concat(second.Rows).Select(r => r.RowKey).ToList();
        Assert.Equal(8, keys.Distinct().Count());
        Assert.Equal(keys.OrderDescending(), keys);
    }

    [Fact]
    public async Task DetailPageNeighbours_StillUseThePartialEndUserIndex()
    {
        // The index now holds only calls that name an end user; the detail page's "same end user" query (end_user = ?)
        // implies that, so SQLite still reads it.
        await using var db = _factory.Create(TenantScope.For(Acme));
        var call = await db.Calls.AsNoTracking().FirstAsync(c => c.EndUser != null);
        var (before, after) = TraceViewer.NeighbourQueries(db, call)!.Value;

        foreach (var plan in new[] { await PlanAsync(db, before), await PlanAsync(db, after) })
        {
            Assert.Contains(plan, line => line.Contains("USING INDEX ix_llm_calls_tenant_id_end_user_created_utc (tenant_id=? AND end_user=?", StringComparison.Ordinal));
            Assert.DoesNotContain(plan, line => line.Contains("TEMP B-TREE", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task TraceRetention_FindsOldTracesByTheTimeIndex()
    {
        await using var db = _factory.ForSystem();
        var cutoff = T0.AddMinutes(5);
        var overridden = new List<Guid> { Acme };

        // The retention job's two shapes (TraceRetentionJob.PurgeAsync): a tenant with an override, and everyone else.
        var forTenant = await PlanAsync(db, db.Traces.Where(t => t.TenantId == Acme).Where(t => t.CreatedUtc < cutoff));
        var forTheRest = await PlanAsync(db, db.Traces.Where(t => !overridden.Contains(t.TenantId)).Where(t => t.CreatedUtc < cutoff));

        Assert.Contains(forTenant, line => line.Contains("USING INDEX ix_llm_traces_created_utc (created_utc<?)", StringComparison.Ordinal));
        Assert.Contains(forTheRest, line => line.Contains("USING INDEX ix_llm_traces_created_utc (created_utc<?)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ExistingDatabase_UpgradesInPlace_AndSearchStillPages()
    {
        // Back to the migration before this change (its Down restores the old indexes), then forward again over the data.
        await using (var db = _factory.ForSystem())
        {
            await db.GetService<IMigrator>().MigrateAsync("20261206180306_TracePacks");
            Assert.Contains("ix_llm_calls_tenant_id_cost_micros_id", await IndexesAsync(db));
        }

        await new DatabaseMigrator(_factory, _database.Connections, Microsoft.Extensions.Options.Options.Create(_database.Options),
            NullLogger<DatabaseMigrator>.Instance).MigrateAsync(default);

        await using (var db = _factory.ForSystem())
        {
            var indexes = await IndexesAsync(db);
            Assert.Contains("ix_llm_calls_tenant_id_cost_micros", indexes);
            Assert.Contains("ix_llm_traces_created_utc", indexes);
            Assert.DoesNotContain("ix_llm_calls_tenant_id_cost_micros_id", indexes);
            Assert.DoesNotContain("ix_llm_traces_tenant_id_created_utc", indexes);
        }

        var queries = new TraceQueries(Scoped(_factory, TenantScope.For(Acme)));
        var seen = new List<Guid>();
        string? cursor = null;
        do
        {
            var page = await queries.SearchAsync(new TraceFilter { Sort = TraceSort.Latency }, cursor, 3, default);
            seen.AddRange(page.Rows.Select(r => r.CallId));
            cursor = page.NextCursor;
        }
        while (cursor is not null && seen.Count < 100);

        Assert.Equal(10, seen.Distinct().Count());
        Assert.Equal(10, seen.Count);
    }

    private static async Task<List<string>> IndexesAsync(KeystoneDbContext db)
        => await db.Database.SqlQuery<string>($"SELECT name AS \"Value\" FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('llm_calls', 'llm_traces')")
            .ToListAsync();

    private static async Task<List<string>> PlanAsync<T>(KeystoneDbContext db, IQueryable<T> query)
    {
        await db.Database.OpenConnectionAsync();
        await using var command = query.CreateDbCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + command.CommandText;
        await using var reader = await command.ExecuteReaderAsync();
        var plan = new List<string>();
        while (await reader.ReadAsync())
        {
            plan.Add(reader.GetString(3));
        }

        return plan;
    }
}
