using Microsoft.Data.Sqlite;

namespace Keystone.Data;

/// <summary>What one refresh of SQLite's planner statistics did: the tables it analyzed (none when the statistics were
/// fresh) and how long it took, the write lock included.</summary>
public sealed record PlannerStatisticsRefresh(IReadOnlyList<string> AnalyzedTables, TimeSpan Duration);

/// <summary>
/// Keeps SQLite's query planner statistics (<c>sqlite_stat1</c>) fresh, bounded in time (decision 0073). Without them the
/// planner picks among <c>llm_calls</c>' many indexes (decision 63) on heuristics alone. The one step the product runs (the
/// hourly job and once after start, <c>Hosting/PlannerStatisticsJob</c>) and the trace search benchmark runs after loading
/// its data, so the benchmark measures the statistics the product has.
/// </summary>
/// <remarks>
/// <para><c>PRAGMA optimize=0x10002</c> (SQLite 3.46 and later; Microsoft.Data.Sqlite bundles 3.53.3 here): 0x00002 analyzes
/// the tables that might benefit: a table with an index never analyzed, or whose row count changed by a large factor since
/// its last analysis (SQLite's own rule, which may change between versions); 0x10000 checks every table. Without 0x10000
/// SQLite re-analyzes a grown table only if the running connection's own queries used it, and a job's connection has run
/// none (<c>PlannerStatisticsJobTests</c> shows the plain pragma missing a thirtyfold growth). On fresh statistics the
/// pragma only compares table sizes: cheap, and safe to run on a schedule. Empty tables stay "never analyzed" (analyzing
/// one writes no statistics), so SQLite names them on every run; analyzing them costs nothing.</para>
/// <para><c>PRAGMA analysis_limit</c> bounds each index's scan to about that many rows: ANALYZE writes <c>sqlite_stat1</c>
/// and holds the one write lock while it runs, and the call recorder and the trace indexer wait for it (decision 59). The
/// pragma optimize would apply a limit of its own since 3.46; setting ours makes the bound explicit and not a detail of
/// the bundled version. The connection's previous limit is put back: the connection returns to the pool.</para>
/// </remarks>
public static class SqlitePlannerStatistics
{
    /// <summary>Rows scanned per index at most (SQLite's advice: 100 to 1,000).</summary>
    public const int AnalysisLimit = 400;

    /// <summary>Refreshes what needs it on an open connection; blocks (Microsoft.Data.Sqlite has no asynchronous I/O).</summary>
    public static PlannerStatisticsRefresh Refresh(SqliteConnection connection, TimeProvider clock)
    {
        var started = clock.GetTimestamp();
        var previousLimit = Convert.ToInt64(Scalar(connection, "PRAGMA analysis_limit"), System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            Execute(connection, $"PRAGMA analysis_limit={AnalysisLimit}");
            // 0x10003: the same choice with the debugging bit, which returns the ANALYZE statements it would run and runs none.
            var planned = Lines(connection, "PRAGMA optimize=0x10003");
            Execute(connection, "PRAGMA optimize=0x10002");
            return new PlannerStatisticsRefresh([.. planned.Select(TableOf)], clock.GetElapsedTime(started));
        }
        finally
        {
            Execute(connection, $"PRAGMA analysis_limit={previousLimit}");
        }
    }

    /// <summary>The table an ANALYZE statement names (<c>ANALYZE "main"."llm_calls"</c> → <c>llm_calls</c>).</summary>
    private static string TableOf(string statement) => statement[(statement.LastIndexOf('.') + 1)..].Trim('"', ' ', ';');

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static List<string> Lines(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var lines = new List<string>();
        while (reader.Read())
        {
            lines.Add(reader.GetString(0));
        }

        return lines;
    }
}
