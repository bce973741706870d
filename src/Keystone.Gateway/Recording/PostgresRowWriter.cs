using System.Collections.Concurrent;
using Keystone.Data;
using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Npgsql;

namespace Keystone.Gateway.Recording;

/// <summary>
/// Inserts the recorder's batches on PostgreSQL without EF Core's per-row work (issue 26): SaveChanges cost the gateway's
/// process ~150 µs per recorded call in change tracking, command building and one parameter per column and row. Here a
/// table's rows go in one <c>INSERT … SELECT * FROM unnest($1, $2, …)</c> whose parameters are one array per column,
/// sent in Npgsql's binary format. Three round trips per batch: the tenant settings with one <c>INSERT … RETURNING id</c>
/// per trace pack (their ids come back in the packs' order), then the call rows and the slim trace rows, then COMMIT. The
/// columns, their names, store types and value conversions come from the EF model, so the stored values are SaveChanges'
/// (<c>PostgresRowWriterTests</c> compares every column). Columns with a database default or computed SQL are left to
/// the database; the trace's search text is stored for the insert trigger, which turns it into the search vector.
/// </summary>
internal static class PostgresRowWriter
{
    public static void InsertPacked(KeystoneDbContext db, IReadOnlyList<LlmCall> calls, IReadOnlyList<LlmTrace> traces)
    {
        // Compression before the transaction opens: the database's locks are not held while Brotli runs.
        var packs = TracePack.PerTenant(traces);
        // Opened here, outside EF Core: the tenant settings travel in the first batch instead of a round trip of their own.
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        connection.Open();
        try
        {
            using var tx = connection.BeginTransaction();
            var slim = new List<object>(traces.Count);
            using (var first = new NpgsqlBatch(connection, tx))
            {
                first.BatchCommands.Add(PostgresTenantInterceptor.TransactionSettings(db.Scope));
                foreach (var (_, pack) in packs)
                {
                    first.BatchCommands.Add(PackInsert(pack));
                }

                using var reader = first.ExecuteReader();
                // The settings' row first, then one id per pack.
                foreach (var (packed, pack) in packs)
                {
                    reader.NextResult();
                    reader.Read();
                    var packId = reader.GetInt64(0);
                    for (var slot = 0; slot < packed.Length; slot++)
                    {
                        var row = TracePack.Slim(packed[slot], packId, slot);
                        row.SearchText = packed[slot].SearchText;
                        slim.Add(row);
                    }
                }
            }

            using (var rows = new NpgsqlBatch(connection, tx))
            {
                rows.BatchCommands.Add(Unnest(db.Model.FindEntityType(typeof(LlmCall))!, calls));
                rows.BatchCommands.Add(Unnest(db.Model.FindEntityType(typeof(LlmTrace))!, slim));
                rows.ExecuteNonQuery();
            }

            tx.Commit();
        }
        finally
        {
            connection.Close();
        }
    }

    private static NpgsqlBatchCommand PackInsert(LlmTracePack pack)
    {
        var command = new NpgsqlBatchCommand("""
            INSERT INTO llm_trace_packs (tenant_id, first_created_utc, last_created_utc, count, payloads, raw_payloads, raw_count)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = pack.TenantId });
        command.Parameters.Add(new NpgsqlParameter { Value = pack.FirstCreatedUtc });
        command.Parameters.Add(new NpgsqlParameter { Value = pack.LastCreatedUtc });
        command.Parameters.Add(new NpgsqlParameter { Value = pack.Count });
        command.Parameters.Add(new NpgsqlParameter { Value = pack.Payloads });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)pack.RawPayloads ?? DBNull.Value, DataTypeName = "bytea" });
        command.Parameters.Add(new NpgsqlParameter { Value = pack.RawCount });
        return command;
    }

    /// <summary>A column: its provider value's element type, its store type's array name, how to read its value from a row.</summary>
    private sealed record Column(Type Element, string ArrayType, Func<object, object?> Read);

    // The statement and its columns per entity type, built once: reading them from the model is reflection-heavy.
    private static readonly ConcurrentDictionary<IEntityType, (string Sql, Column[] Columns)> Plans = new();

    private static NpgsqlBatchCommand Unnest(IEntityType type, IReadOnlyList<object> rows)
    {
        var (sql, columns) = Plans.GetOrAdd(type, BuildPlan);
        var command = new NpgsqlBatchCommand(sql);
        foreach (var column in columns)
        {
            var values = Array.CreateInstance(column.Element, rows.Count);
            for (var i = 0; i < rows.Count; i++)
            {
                values.SetValue(column.Read(rows[i]), i);
            }

            command.Parameters.Add(new NpgsqlParameter { Value = values, DataTypeName = column.ArrayType });
        }

        return command;
    }

    private static (string Sql, Column[] Columns) BuildPlan(IEntityType type)
    {
        var table = type.GetTableName()!;
        var store = StoreObjectIdentifier.Table(table, type.GetSchema());
        var properties = ModelColumns.Writable(type, store);
        var sql = $"INSERT INTO \"{table}\" ({string.Join(", ", properties.Select(p => $"\"{p.GetColumnName(store)}\""))}) " +
                  $"SELECT * FROM unnest({string.Join(", ", properties.Select((_, i) => $"${i + 1}"))})";
        return (sql, [.. properties.Select(p => ColumnOf(p, store))]);
    }

    private static Column ColumnOf(IProperty property, StoreObjectIdentifier store)
    {
        var provider = ModelColumns.Converter(property)?.ProviderClrType ?? property.ClrType;
        var element = provider.IsValueType && Nullable.GetUnderlyingType(provider) is null && property.IsNullable
            ? typeof(Nullable<>).MakeGenericType(provider)
            : provider;
        // The array of the column's type without its modifiers: character varying(64) → character varying[].
        var columnType = property.GetColumnType(store);
        var at = columnType.IndexOf('(', StringComparison.Ordinal);
        var arrayType = (at < 0 ? columnType : columnType[..at]).Trim() + "[]";
        return new Column(element, arrayType, ModelColumns.ProviderValue(property));
    }
}
