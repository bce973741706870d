// DDL takes no parameters; every name spliced in comes from the EF model or sqlite_master, never from input.
#pragma warning disable EF1003
using System.Text.RegularExpressions;
using Keystone.Data;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Benchmarks.Traces;

/// <summary>
/// Brings a cached benchmark database up to the current model without regenerating its million rows (that
/// takes tens of minutes): missing tables, columns and indexes are created from the model's create script,
/// indexes the model no longer declares are dropped, and the full-text index is brought to its current
/// layout by the same code as production (<see cref="SqliteModel.EnsureFullTextAsync"/>). The migration
/// sets are regenerated rather than stacked while nothing is deployed, so a migration cannot do this.
/// </summary>
internal static partial class CachedSchema
{
    /// <summary>True when anything changed (the caller then refreshes the planner's statistics).</summary>
    public static async Task<bool> CatchUpAsync(KeystoneDbContext db, TextWriter log)
    {
        var changed = false;
        var script = db.Database.GenerateCreateScript();
        var statements = StatementEnd().Split(script).Select(s => s.Trim()).Where(s => s.Length > 0).ToList();
        var tables = await NamesAsync(db, "table");
        var indexes = await NamesAsync(db, "index");
        var model = db.Model.GetRelationalModel();

        foreach (var sql in statements.Where(s => s.StartsWith("CREATE TABLE", StringComparison.Ordinal)))
        {
            var name = QuotedName().Match(sql).Groups[1].Value;
            if (!tables.Contains(name))
            {
                await db.Database.ExecuteSqlRawAsync(sql);
                log.WriteLine($"cached database: created table {name}");
                changed = true;
                continue;
            }

            var existing = await db.Database.SqlQueryRaw<string>("SELECT name AS \"Value\" FROM pragma_table_info({0})", name).ToListAsync();
            var table = model.Tables.Single(t => t.Name == name);
            foreach (var column in table.Columns.Where(c => !existing.Contains(c.Name)))
            {
                // REVIEW: benchmark only. SQLite adds a NOT NULL column only with a constant default; the
                // columns added this way (e.g. the rollup watermark) are not read by the trace benchmark.
                var type = column.StoreType;
                var clr = column.PropertyMappings[0].Property.ClrType;
                var fallback = clr == typeof(DateTime) ? "'2000-01-01 00:00:00'"
                    : type.Equals("TEXT", StringComparison.OrdinalIgnoreCase) ? "''" : "0";
                var tail = column.IsNullable ? "NULL" : $"NOT NULL DEFAULT {fallback}";
                await db.Database.ExecuteSqlRawAsync("ALTER TABLE \"" + name + "\" ADD COLUMN \"" + column.Name + "\" " + type + " " + tail + ";");
                log.WriteLine($"cached database: added column {name}.{column.Name}");
                changed = true;
            }
        }

        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sql in statements.Where(s => s.StartsWith("CREATE INDEX", StringComparison.Ordinal) || s.StartsWith("CREATE UNIQUE INDEX", StringComparison.Ordinal)))
        {
            var name = QuotedName().Match(sql).Groups[1].Value;
            declared.Add(name);
            if (!indexes.Contains(name))
            {
                log.WriteLine($"cached database: creating index {name}");
                await db.Database.ExecuteSqlRawAsync(sql);
                changed = true;
            }
        }

        foreach (var name in indexes.Where(i => i.StartsWith("ix_", StringComparison.Ordinal) && !declared.Contains(i)))
        {
            await db.Database.ExecuteSqlRawAsync("DROP INDEX \"" + name + "\";");
            log.WriteLine($"cached database: dropped index {name} (no longer in the model)");
            changed = true;
        }

        var triggers = await NamesAsync(db, "trigger");
        await SqliteModel.EnsureFullTextAsync(db, default);
        if (!(await NamesAsync(db, "trigger")).SetEquals(triggers))
        {
            log.WriteLine("cached database: full-text index rebuilt in its current layout");
            changed = true;
        }

        return changed;
    }

    private static async Task<HashSet<string>> NamesAsync(KeystoneDbContext db, string type)
        => [.. await db.Database.SqlQueryRaw<string>("SELECT name AS \"Value\" FROM sqlite_master WHERE type = {0}", type).ToListAsync()];

    [GeneratedRegex(@";\s*(?:\r?\n|$)")]
    private static partial Regex StatementEnd();

    [GeneratedRegex("^CREATE (?:UNIQUE )?(?:TABLE|INDEX) \"([^\"]+)\"")]
    private static partial Regex QuotedName();
}
