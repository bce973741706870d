using Keystone.Data;
using Keystone.Testing;
using Keystone.Web.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using static Keystone.Web.Tests.Traces.TraceTestData;

namespace Keystone.Web.Tests.Hosting;

/// <summary>SQLite's planner statistics refreshed by the product (decision 0073); PostgreSQL schedules nothing.</summary>
public sealed class PlannerStatisticsJobTests : IAsyncLifetime
{
    private SqliteTestDatabase _database = default!;
    private KeystoneDbFactory _factory = default!;

    public async Task InitializeAsync()
    {
        _database = await SqliteTestDatabase.CreateAsync();
        _factory = _database.CreateFactory();
        await SeedTenantsAsync(_factory);
        await AddAsync(_factory, [.. Enumerable.Range(0, 40).Select(i => Call(i % 2 == 0 ? Acme : Globex, T0.AddMinutes(i)))]);
    }

    public async Task DisposeAsync() => await _database.DisposeAsync();

    private PlannerStatisticsJob Job() => new(_factory, TimeProvider.System, NullLogger<PlannerStatisticsJob>.Instance);

    [Fact]
    public async Task Run_NeverAnalyzedDatabaseWithCalls_WritesStatisticsForTheCallIndexes()
    {
        Assert.Empty(await StatisticsAsync());

        var result = await Job().RunAsync(CancellationToken.None);

        var stats = await StatisticsAsync();
        Assert.Contains("llm_calls", result.AnalyzedTables);
        Assert.Contains(stats, s => s.Table == "llm_calls" && s.Index == "ix_llm_calls_tenant_id_created_utc" && s.Stat.StartsWith("40 ", StringComparison.Ordinal));
        Assert.Contains(stats, s => s.Table == "llm_calls" && s.Index == "ix_llm_calls_created_utc");
    }

    [Fact]
    public async Task Run_Twice_SecondRunLeavesAnalyzedTablesAndTheirStatisticsAlone()
    {
        await Job().RunAsync(CancellationToken.None);
        var first = await StatisticsAsync();

        var second = await Job().RunAsync(CancellationToken.None);

        // SQLite keeps naming the empty tables (analyzing one writes no statistics, so it stays "never analyzed"): cheap.
        Assert.DoesNotContain("llm_calls", second.AnalyzedTables);
        Assert.DoesNotContain("llm_traces", second.AnalyzedTables);
        Assert.Equal(first, await StatisticsAsync());
    }

    [Fact]
    public async Task Refresh_CallTableGrewThirtyTimes_ReanalyzesItFromAConnectionThatRanNoQuery()
    {
        await Job().RunAsync(CancellationToken.None);
        await AddAsync(_factory, [.. Enumerable.Range(40, 1_200).Select(i => Call(Acme, T0.AddMinutes(i)))]);
        // A job's connection may never have read llm_calls: plain PRAGMA optimize looks only at the tables the running
        // connection's own queries used, hence 0x10000 (every table).
        var fresh = new SqliteConnectionStringBuilder(_database.Connections.SqliteConnectionString(_database.Options)) { Pooling = false };
        using var connection = new SqliteConnection(fresh.ToString());
        connection.Open();

        var result = SqlitePlannerStatistics.Refresh(connection, TimeProvider.System);

        Assert.Contains("llm_calls", result.AnalyzedTables);
        Assert.Contains(await StatisticsAsync(), s => s.Index == "ix_llm_calls_tenant_id_created_utc" && s.Stat.StartsWith("1240 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Run_LeavesThePooledConnectionsAnalysisLimitAsItFoundIt()
    {
        await Job().RunAsync(CancellationToken.None);

        await using var db = _factory.ForSystem();
        await db.Database.OpenConnectionAsync();
        await using var command = ((SqliteConnection)db.Database.GetDbConnection()).CreateCommand();
        command.CommandText = "PRAGMA analysis_limit";
        Assert.Equal(0L, await command.ExecuteScalarAsync());
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite, true)]
    [InlineData(DatabaseProvider.Postgres, false)]
    public void AddKeystonePlannerStatistics_SchedulesOnlyInSqliteMode(DatabaseProvider provider, bool scheduled)
    {
        var services = new ServiceCollection().AddKeystonePlannerStatistics(new DatabaseOptions { Provider = provider });

        Assert.Equal(scheduled, services.Any(d => d.ServiceType == typeof(PlannerStatisticsJob)));
        Assert.Equal(scheduled, services.Any(d => d.ServiceType == typeof(RecurringJobRegistration)));
        Assert.Equal(scheduled, services.Any(d => d.ImplementationType == typeof(PlannerStatisticsAfterStart)));
    }

    private async Task<List<(string Table, string? Index, string Stat)>> StatisticsAsync()
    {
        await using var db = _factory.ForSystem();
        await db.Database.OpenConnectionAsync();
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        await using var exists = connection.CreateCommand();
        exists.CommandText = "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'";
        if ((long)(await exists.ExecuteScalarAsync())! == 0)
        {
            return [];
        }

        await using var read = connection.CreateCommand();
        read.CommandText = "SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx";
        await using var reader = await read.ExecuteReaderAsync();
        var rows = new List<(string, string?, string)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2)));
        }

        return rows;
    }
}
