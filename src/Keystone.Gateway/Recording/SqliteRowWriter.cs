using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Keystone.Data;
using Keystone.Data.Calls;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using SQLitePCL;

namespace Keystone.Gateway.Recording;

/// <summary>
/// Inserts the recorder's batches on SQLite with one prepared INSERT per table, re-bound for every row, in one
/// transaction. On the embedded database the recorder's write rate caps the gateway's throughput (every call is
/// recorded; the bounded channel pushes back), and EF Core's change tracking and per-statement command building
/// cost more than SQLite's own work here. The columns, their names and their value conversions come from the EF
/// model, so the stored values are identical to SaveChanges' (<c>SqliteRowWriterTests</c> compares every column), except
/// the trace's search text: it is not stored and not indexed here; the background indexer derives it from the stored
/// payloads (<see cref="SqliteTraceIndexer"/>: full-text indexing on the write path was most of the recorder's CPU).
/// Columns with a database default or computed SQL are left to the database.
/// PostgreSQL has its own writer (<see cref="PostgresRowWriter"/>: one INSERT per table from column arrays).
/// </summary>
/// <remarks>
/// The statement is bound and stepped through SQLitePCL directly, by parameter index, with each column's storage
/// form (UTF-8 text, integer, real) chosen once per table. Microsoft.Data.Sqlite's command looked every parameter up
/// by name and type-switched every value on every execution, which was a quarter of the recorder's insert time
/// (perf, <c>--recorder</c>). Guids and DateTimes are written in the text forms Microsoft.Data.Sqlite gives the EF
/// type mappings' parameters: upper-case <c>D</c> Guids and <c>yyyy-MM-dd HH:mm:ss.FFFFFFF</c> times.
/// </remarks>
internal static class SqliteRowWriter
{
    public static void Insert(KeystoneDbContext db, IReadOnlyList<object> calls, IReadOnlyList<object> traces)
    {
        db.Database.OpenConnection();
        try
        {
            var connection = (SqliteConnection)db.Database.GetDbConnection();
            // The statement journal (each insert's undo record inside the batch's transaction) in memory: in a temporary
            // file it was most of the bytes the recorder made the kernel write (issue 26). A batch's journal is small.
            Check(connection.Handle!, raw.sqlite3_exec(connection.Handle!, "PRAGMA temp_store = MEMORY"));
            using var tx = db.Database.BeginTransaction();
            InsertAll(connection, db.Model.FindEntityType(typeof(LlmCall))!, calls);
            InsertAll(connection, db.Model.FindEntityType(typeof(LlmTrace))!, traces);

            tx.Commit();
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    /// <summary>
    /// The call recorder's form (issue 26): the call rows as <see cref="Insert"/> writes them, the traces' payloads packed per
    /// tenant in <see cref="LlmTracePack"/>s of up to <see cref="TracePack.MaxSlots"/> (compressed together, before the
    /// transaction opens), and per trace a slim row with no payload that points at its pack and slot. One transaction: a
    /// batch is stored whole or not at all, as before. Returns each given trace with the rowid its row got (committed), for
    /// the hand-off of its search text to the indexer (<see cref="SearchTextHandoff"/>).
    /// </summary>
    public static List<(LlmTrace Trace, long Rowid)> InsertPacked(KeystoneDbContext db, IReadOnlyList<LlmCall> calls, IReadOnlyList<LlmTrace> traces)
    {
        var packs = TracePack.PerTenant(traces);
        db.Database.OpenConnection();
        try
        {
            var connection = (SqliteConnection)db.Database.GetDbConnection();
            var handle = connection.Handle!;
            Check(handle, raw.sqlite3_exec(handle, "PRAGMA temp_store = MEMORY"));
            using var tx = db.Database.BeginTransaction();
            InsertAll(connection, db.Model.FindEntityType(typeof(LlmCall))!, calls);
            var slim = new List<object>(traces.Count);
            var given = new List<LlmTrace>(traces.Count);
            Check(handle, raw.sqlite3_prepare_v2(handle, InsertPackSql, out var statement));
            using (statement)
            {
                foreach (var (packed, pack) in packs)
                {
                    Check(handle, BindGuid(statement, 1, pack.TenantId));
                    Check(handle, BindTime(statement, 2, pack.FirstCreatedUtc));
                    Check(handle, BindTime(statement, 3, pack.LastCreatedUtc));
                    Check(handle, raw.sqlite3_bind_int64(statement, 4, pack.Count));
                    Check(handle, raw.sqlite3_bind_blob(statement, 5, pack.Payloads));
                    Check(handle, pack.RawPayloads is null ? raw.sqlite3_bind_null(statement, 6) : raw.sqlite3_bind_blob(statement, 6, pack.RawPayloads));
                    Check(handle, raw.sqlite3_bind_int64(statement, 7, pack.RawCount));
                    Step(handle, statement);
                    var packId = raw.sqlite3_last_insert_rowid(handle);
                    for (var slot = 0; slot < packed.Length; slot++)
                    {
                        slim.Add(TracePack.Slim(packed[slot], packId, slot));
                        given.Add(packed[slot]);
                    }
                }
            }

            var rowids = new List<long>(slim.Count);
            InsertAll(connection, db.Model.FindEntityType(typeof(LlmTrace))!, slim, rowids);
            tx.Commit();
            return [.. given.Select((t, i) => (t, rowids[i]))];
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    private const string InsertPackSql = """
        INSERT INTO llm_trace_packs (tenant_id, first_created_utc, last_created_utc, count, payloads, raw_payloads, raw_count)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
        """;

    private static int BindTime(sqlite3_stmt statement, int index, DateTime value)
    {
        Span<byte> utf8 = stackalloc byte[40];
        value.TryFormat(utf8, out var written, DateTimeFormat, CultureInfo.InvariantCulture);
        return raw.sqlite3_bind_text(statement, index, utf8[..written]);
    }

    // The statement and its columns per entity type, built once: reading them from the model is reflection-heavy
    // work that would otherwise run on every batch.
    private static readonly ConcurrentDictionary<IEntityType, (string Sql, Column[] Columns)> Plans = new();

    private enum Storage
    {
        Text,
        Integer,
        Boolean,
        Real,
        Blob,
        Guid,
        DateTime,
    }

    /// <summary>A column: its name for errors, how to read its provider value from a row, and how SQLite stores it.</summary>
    private sealed record Column(string Name, Func<object, object?> Read, Storage Storage);

    private static (string Sql, Column[] Columns) BuildPlan(IEntityType type)
    {
        var table = type.GetTableName()!;
        var store = StoreObjectIdentifier.Table(table, type.GetSchema());
        var properties = ModelColumns.Writable(type, store)
            // The trace's text is derived from the payloads by the background indexer (SqliteTraceIndex); the column stays NULL.
            .Where(p => !(p.DeclaringType.ClrType == typeof(LlmTrace) && p.Name == nameof(LlmTrace.SearchText)))
            .ToList();
        var sql = $"INSERT INTO \"{table}\" ({string.Join(", ", properties.Select(p => $"\"{p.GetColumnName(store)}\""))}) " +
                  $"VALUES ({string.Join(", ", properties.Select((_, i) => $"?{i + 1}"))})";
        return (sql, [.. properties.Select(p => ColumnOf(p, p.GetColumnName(store)!))]);
    }

    private static Column ColumnOf(IProperty property, string name)
    {
        var converter = ModelColumns.Converter(property);
        var clr = Nullable.GetUnderlyingType(converter?.ProviderClrType ?? property.ClrType) ?? converter?.ProviderClrType ?? property.ClrType;
        var storage = clr == typeof(string) ? Storage.Text
            : clr == typeof(Guid) ? Storage.Guid
            : clr == typeof(DateTime) ? Storage.DateTime
            : clr == typeof(bool) ? Storage.Boolean
            : clr == typeof(long) || clr == typeof(int) || clr == typeof(short) || clr == typeof(byte) ? Storage.Integer
            : clr == typeof(double) || clr == typeof(float) ? Storage.Real
            : clr == typeof(byte[]) ? Storage.Blob
            : throw new NotSupportedException($"The recorder's SQLite writer has no storage form for {name} ({clr.Name}); add one, and a value to SqliteRowWriterTests.");

        return new Column(name, ModelColumns.ProviderValue(property), storage);
    }

    /// <summary>Inserts the rows; with <paramref name="rowids"/>, adds each row's rowid to it, in order.</summary>
    private static void InsertAll(SqliteConnection connection, IEntityType type, IReadOnlyList<object> rows, List<long>? rowids = null)
    {
        if (rows.Count == 0)
        {
            return;
        }

        var (sql, columns) = Plans.GetOrAdd(type, BuildPlan);
        var db = connection.Handle!;
        Check(db, raw.sqlite3_prepare_v2(db, sql, out var statement));
        using (statement)
        {
            foreach (var row in rows)
            {
                for (var i = 0; i < columns.Length; i++)
                {
                    Check(db, Bind(statement, i + 1, columns[i], columns[i].Read(row)));
                }

                Step(db, statement);
                rowids?.Add(raw.sqlite3_last_insert_rowid(db));
            }
        }
    }

    private static void Step(sqlite3 db, sqlite3_stmt statement)
    {
        var rc = raw.sqlite3_step(statement);
        if (rc != raw.SQLITE_DONE)
        {
            raw.sqlite3_reset(statement);
            Check(db, rc);
        }

        Check(db, raw.sqlite3_reset(statement));
    }

    private static int Bind(sqlite3_stmt statement, int index, Column column, object? value)
    {
        if (value is null)
        {
            return raw.sqlite3_bind_null(statement, index);
        }

        switch (column.Storage)
        {
            case Storage.Integer:
                return raw.sqlite3_bind_int64(statement, index, Convert.ToInt64(value, CultureInfo.InvariantCulture));
            case Storage.Boolean:
                return raw.sqlite3_bind_int64(statement, index, (bool)value ? 1 : 0);
            case Storage.Real:
                return raw.sqlite3_bind_double(statement, index, Convert.ToDouble(value, CultureInfo.InvariantCulture));
            case Storage.Blob:
                return raw.sqlite3_bind_blob(statement, index, (byte[])value);
            case Storage.Guid:
                return BindGuid(statement, index, (Guid)value);

            case Storage.DateTime:
            {
                Span<byte> utf8 = stackalloc byte[40];
                ((DateTime)value).TryFormat(utf8, out var written, DateTimeFormat, CultureInfo.InvariantCulture);
                return raw.sqlite3_bind_text(statement, index, utf8[..written]);
            }

            default:
                return BindText(statement, index, (string)value);
        }
    }

    private static int BindGuid(sqlite3_stmt statement, int index, Guid value)
    {
        Span<byte> utf8 = stackalloc byte[36];
        value.TryFormat(utf8, out _, "D");
        for (var i = 0; i < utf8.Length; i++)
        {
            // Upper-case hex, as Microsoft.Data.Sqlite binds a Guid parameter typed as text.
            if (utf8[i] is >= (byte)'a' and <= (byte)'f')
            {
                utf8[i] -= 'a' - 'A';
            }
        }

        return raw.sqlite3_bind_text(statement, index, utf8);
    }

    // Microsoft.Data.Sqlite's own format for DateTime parameters (its SqliteValueBinder).
    private const string DateTimeFormat = @"yyyy\-MM\-dd HH\:mm\:ss.FFFFFFF";

    private static int BindText(sqlite3_stmt statement, int index, string text)
    {
        var length = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (length <= 512)
        {
            Span<byte> small = stackalloc byte[length];
            return raw.sqlite3_bind_text(statement, index, small[..Encoding.UTF8.GetBytes(text, small)]);
        }

        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            // SQLitePCL binds a span with SQLITE_TRANSIENT: SQLite copies the bytes before this returns.
            return raw.sqlite3_bind_text(statement, index, rented.AsSpan(0, Encoding.UTF8.GetBytes(text, rented)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void Check(sqlite3 db, int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }
    }
}
