using Keystone.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Gateway.Recording;

/// <summary>
/// One pass of SQLite's background trace indexing (issue 26): the traces the call recorder stored since the watermark
/// (<c>llm_trace_index_state</c>, <see cref="SqliteModel.IndexStateSql"/>) get their full-text rows, their text handed over by
/// the recorder (<see cref="SearchTextHandoff"/>) or else derived from the stored payloads (<see cref="TraceSearchText.FromStored"/>,
/// from the trace row or its pack), in one transaction with the watermark's move. So a
/// pass is all or nothing: a crash or a restart between the recorder's write and the index loses nothing and indexes
/// nothing twice; the next pass (in any process) starts from the watermark in the database.
/// </summary>
internal static class SqliteTraceIndex
{
    /// <summary>
    /// Indexes up to <paramref name="limit"/> traces past the watermark. Returns the watermark after the pass and how
    /// many traces it indexed (traces written with their search text were indexed by the insert trigger and are only passed).
    /// A trace's text comes from its own row's payloads or, for the recorder's packed traces, from its pack, decompressed
    /// once per pass for all of its traces (the traces of a pack are consecutive rowids). A text taken from the hand-off is
    /// not put back if the pass fails: the next pass derives it from the pack.
    /// </summary>
    /// <param name="db">A system-scope context.</param>
    /// <param name="limit">Traces per pass at most.</param>
    /// <param name="handoff">The recorder's texts of what it just wrote (decision 0071): a trace found there (same rowid and
    /// call id) is indexed with that text, and its pack is read only for the traces that are not.</param>
    public static (long IndexedThrough, int Traces) IndexPending(KeystoneDbContext db, int limit, SearchTextHandoff? handoff = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        db.Database.OpenConnection();
        try
        {
            var connection = (SqliteConnection)db.Database.GetDbConnection();
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

            var pending = new List<(long Key, string Scope, string CallId, object? Request, object? Response, long? PackId, int Slot, long Rowid)>();
            using (var select = Command(connection, tx, SqliteModel.PendingRangeSql, [("$from", from), ("$to", through)]))
            using (var reader = select.ExecuteReader())
            {
                while (reader.Read())
                {
                    pending.Add((reader.GetInt64(0), reader.GetString(1), reader.GetString(2),
                        reader.IsDBNull(3) ? null : reader.GetValue(3), reader.IsDBNull(4) ? null : reader.GetValue(4),
                        reader.IsDBNull(5) ? null : reader.GetInt64(5), reader.IsDBNull(6) ? -1 : reader.GetInt32(6), reader.GetInt64(7)));
                }
            }

            using var insert = Command(connection, tx, "INSERT INTO llm_traces_fts(rowid, search_text, scope, call_id) VALUES ($key, $text, $scope, $call)", []);
            var key = insert.Parameters.Add("$key", SqliteType.Integer);
            var text = insert.Parameters.Add("$text", SqliteType.Text);
            var scope = insert.Parameters.Add("$scope", SqliteType.Text);
            var call = insert.Parameters.Add("$call", SqliteType.Text);
            insert.Prepare();
            long? packId = null;
            IReadOnlyList<Keystone.Data.Calls.PackedTrace>? pack = null;
            foreach (var p in pending)
            {
                string? searchText;
                if (handoff is not null && Guid.TryParse(p.CallId, out var callId) && handoff.TryTake(p.Rowid, callId, out var handed))
                {
                    // The recorder's own text for this trace (decision 0071): its pack is not read for it.
                    searchText = handed;
                }
                else if (p.PackId is { } id)
                {
                    if (packId != id)
                    {
                        pack = ReadPack(connection, tx, id);
                        packId = id;
                    }

                    searchText = pack is not null && p.Slot >= 0 && p.Slot < pack.Count
                        ? TraceSearchText.FromStored(pack[p.Slot].RequestJson, pack[p.Slot].ResponseJson)
                        : null;
                }
                else
                {
                    searchText = TraceSearchText.FromStored(p.Request, p.Response);
                }

                key.Value = p.Key;
                text.Value = searchText ?? "";
                scope.Value = p.Scope;
                call.Value = p.CallId;
                insert.ExecuteNonQuery();
            }

            Execute(connection, tx, "UPDATE llm_trace_index_state SET indexed_through = $to WHERE id = 1", ("$to", through));
            tx.Commit();
            return (through, pending.Count);
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    /// <summary>A pack's slots, or null when it is gone or damaged (its traces are then indexed without text rather than stopping the indexer).</summary>
    private static IReadOnlyList<Keystone.Data.Calls.PackedTrace>? ReadPack(SqliteConnection connection, SqliteTransaction tx, long id)
    {
        if (Scalar(connection, tx, "SELECT payloads FROM llm_trace_packs WHERE id = $id", ("$id", id)) is not byte[] blob)
        {
            return null;
        }

        try
        {
            return Keystone.Data.Calls.TracePack.Decode(blob);
        }
        catch (Exception ex) when (ex is InvalidDataException or ArgumentException or IndexOutOfRangeException)
        {
            return null;
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
