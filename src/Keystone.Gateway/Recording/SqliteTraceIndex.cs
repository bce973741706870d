using Keystone.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Recording;

/// <summary>
/// One pass of SQLite's background trace indexing (issue 26): the traces the call recorder stored since the watermark
/// (<c>llm_trace_index_state</c>, <see cref="SqliteModel.IndexStateSql"/>) get their full-text rows, their text derived from
/// the stored payloads (<see cref="TraceSearchText.FromStored"/>), in one transaction with the watermark's move. So a
/// pass is all or nothing: a crash or a restart between the recorder's write and the index loses nothing and indexes
/// nothing twice; the next pass (in any process) starts from the watermark in the database.
/// </summary>
internal static class SqliteTraceIndex
{
    /// <summary>The connection function <see cref="SqliteModel.IndexRangeSql"/> calls for a trace's text.</summary>
    public const string SearchTextFunction = "ks_trace_search_text";

    /// <summary>
    /// Indexes up to <paramref name="limit"/> traces past the watermark. Returns the watermark after the pass and how
    /// many traces it indexed (traces written with their search text were indexed by the insert trigger and are only passed).
    /// </summary>
    public static (long IndexedThrough, int Traces) IndexPending(KeystoneDbContext db, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        db.Database.OpenConnection();
        try
        {
            var connection = (SqliteConnection)db.Database.GetDbConnection();
            connection.CreateFunction<object?, object?, string?>(SearchTextFunction, TraceSearchText.FromStored, isDeterministic: true);
            // BEGIN IMMEDIATE: the watermark is read under the write lock, so the recorder's inserts (and the guard trigger
            // that moves the watermark back on a reused rowid) cannot interleave with the pass.
            using var tx = connection.BeginTransaction(deferred: false);
            var from = (long)Scalar(connection, tx, "SELECT indexed_through FROM llm_trace_index_state WHERE id = 1")!;
            var to = Scalar(connection, tx, "SELECT max(rowid) FROM (SELECT rowid FROM llm_traces WHERE rowid > $from ORDER BY rowid LIMIT $limit)",
                ("$from", from), ("$limit", limit));
            if (to is not long through)
            {
                tx.Commit();
                return (from, 0);
            }

            var indexed = Execute(connection, tx, SqliteModel.IndexRangeSql, ("$from", from), ("$to", through));
            Execute(connection, tx, "UPDATE llm_trace_index_state SET indexed_through = $to WHERE id = 1", ("$to", through));
            tx.Commit();
            return (through, indexed);
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    /// <summary>The highest trace rowid stored so far (what a caller waiting for the index waits for).</summary>
    public static long NewestTrace(KeystoneDbContext db)
        => db.Database.SqlQuery<long>($"SELECT coalesce(max(rowid), 0) AS \"Value\" FROM llm_traces").AsEnumerable().Single();

    /// <summary>The watermark as stored.</summary>
    public static long Watermark(KeystoneDbContext db)
        => db.Database.SqlQuery<long>($"SELECT indexed_through AS \"Value\" FROM llm_trace_index_state WHERE id = 1").AsEnumerable().Single();

    private static object? Scalar(SqliteConnection connection, SqliteTransaction tx, string sql, params (string Name, long Value)[] parameters)
    {
        using var command = Command(connection, tx, sql, parameters);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    private static int Execute(SqliteConnection connection, SqliteTransaction tx, string sql, params (string Name, long Value)[] parameters)
    {
        using var command = Command(connection, tx, sql, parameters);
        return command.ExecuteNonQuery();
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction tx, string sql, (string Name, long Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }
}
