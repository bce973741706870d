using System.Collections.Concurrent;
using System.Data.Common;
using System.Reflection;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Keystone.Gateway.Recording;

/// <summary>
/// Inserts the recorder's batches on SQLite with one prepared INSERT per table, re-bound for every row, in one
/// transaction. On the embedded database the recorder's write rate caps the gateway's throughput (every call is
/// recorded; the bounded channel pushes back), and EF Core's change tracking and per-statement command building
/// cost more than SQLite's own work here. The columns, their names and their value conversions come from the EF
/// model, and each parameter is made by the column's own type mapping — the same path SaveChanges uses — so the
/// stored values are identical. Columns with a database default or computed SQL are left to the database.
/// PostgreSQL keeps SaveChanges, whose batched commands save a round trip per row.
/// </summary>
internal static class SqliteRowWriter
{
    public static void Insert(KeystoneDbContext db, IReadOnlyList<object> calls, IReadOnlyList<object> traces)
    {
        db.Database.OpenConnection();
        try
        {
            using var tx = db.Database.BeginTransaction();
            var connection = db.Database.GetDbConnection();
            var transaction = tx.GetDbTransaction();
            InsertAll(connection, transaction, db.Model.FindEntityType(typeof(Keystone.Data.Calls.LlmCall))!, calls);
            InsertAll(connection, transaction, db.Model.FindEntityType(typeof(Keystone.Data.Calls.LlmTrace))!, traces);
            tx.Commit();
        }
        finally
        {
            db.Database.CloseConnection();
        }
    }

    // The statement and its columns per entity type, built once: reading them from the model is reflection-heavy
    // work that would otherwise run on every batch.
    private static readonly ConcurrentDictionary<IEntityType, (string Sql, Column[] Columns)> Plans = new();

    private readonly record struct Column(IProperty Property, PropertyInfo Getter, RelationalTypeMapping Mapping);

    private static (string Sql, Column[] Columns) BuildPlan(IEntityType type)
    {
        var table = type.GetTableName()!;
        var store = StoreObjectIdentifier.Table(table, type.GetSchema());
        var properties = type.GetProperties()
            .Where(p => p.GetDefaultValueSql(store) is null && p.GetComputedColumnSql(store) is null && p.PropertyInfo is not null)
            .ToList();
        var sql = $"INSERT INTO \"{table}\" ({string.Join(", ", properties.Select(p => $"\"{p.GetColumnName(store)}\""))}) " +
                  $"VALUES ({string.Join(", ", properties.Select((_, i) => $"@p{i}"))})";
        return (sql, [.. properties.Select(p => new Column(p, p.PropertyInfo!, (RelationalTypeMapping)p.GetRelationalTypeMapping()))]);
    }

    private static void InsertAll(DbConnection connection, DbTransaction transaction, IEntityType type, IReadOnlyList<object> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }

        var (sql, columns) = Plans.GetOrAdd(type, BuildPlan);
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        // The parameters are made once by the type mappings (name, type, size); each row only sets their values,
        // converted the way the mapping converts them (enums to their names, for instance).
        for (var i = 0; i < columns.Length; i++)
        {
            var c = columns[i];
            command.Parameters.Add(c.Mapping.CreateParameter(command, $"@p{i}", c.Getter.GetValue(rows[0]), c.Property.IsNullable));
        }

        foreach (var row in rows)
        {
            for (var i = 0; i < columns.Length; i++)
            {
                var c = columns[i];
                var value = c.Getter.GetValue(row);
                command.Parameters[i].Value = (value is null ? null : c.Mapping.Converter?.ConvertToProvider(value) ?? value) ?? DBNull.Value;
            }

            command.ExecuteNonQuery();
        }
    }
}
