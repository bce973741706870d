using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>
/// The SQLite trace search index (an FTS5 table beside <c>llm_traces</c>, docs/decisions/0012-trace-full-text-search.md)
/// as code outside this project maintains it. PostgreSQL has no such table: its index is a column of <c>llm_traces</c>
/// (filled by an insert trigger), which goes with the row.
/// </summary>
public static class SqliteFullTextIndex
{
    /// <summary>
    /// Drops index rows whose trace no longer exists. The triggers and the background indexer keep the index in step as
    /// traces are written and deleted; this is the retention job's safety net (for example after a <c>VACUUM</c>
    /// renumbered trace rowids). Returns the rows dropped. SQLite only.
    /// </summary>
    public static Task<int> PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct)
        => db.Database.ExecuteSqlRawAsync(SqliteModel.PurgeOrphanedFullTextSql, ct);
}
