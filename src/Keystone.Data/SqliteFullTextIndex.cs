using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>
/// The SQLite trace search index (an FTS5 table beside <c>llm_traces</c>, docs/decisions/0012-trace-full-text-search.md)
/// as code outside this project maintains it. PostgreSQL has no such table: its index is a generated column of
/// <c>llm_traces</c>, which goes with the row.
/// </summary>
public static class SqliteFullTextIndex
{
    /// <summary>
    /// Drops index rows whose trace no longer exists or no longer has text. The triggers keep the index in step as
    /// traces are written and deleted; this is the retention job's safety net (for example after a <c>VACUUM</c>
    /// renumbered trace rowids). Returns the rows dropped. SQLite only.
    /// </summary>
    public static Task<int> PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct)
        => db.Database.ExecuteSqlRawAsync(SqliteModel.PurgeOrphanedFullTextSql, ct);

    /// <summary>
    /// Indexes one trace's text without storing it in <c>llm_traces.search_text</c> (the call recorder: the text is
    /// the redacted request and answer again, and stored twice it was a third of a trace's bytes). Parameters:
    /// ?1 <see cref="KeyOf"/>, ?2 the text, ?3 <see cref="ScopeOf"/>, ?4 the call id as the triggers store it.
    /// </summary>
    public const string InsertSql = "INSERT INTO llm_traces_fts(rowid, search_text, scope, call_id) VALUES (?1, ?2, ?3, ?4)";

    /// <summary>The index row's key for a trace row: what the triggers compute from its creation time and rowid.</summary>
    public static long KeyOf(DateTime createdUtc, long traceRowId)
        => SqliteModel.MillisecondsOf(createdUtc) * SqliteModel.KeyPerMillisecond + traceRowId % SqliteModel.KeyPerMillisecond;

    /// <summary>The <c>scope</c> column's value for a call's tenant and feature (what the triggers write).</summary>
    public static string ScopeOf(Guid tenantId, string? feature) => SqliteModel.TenantToken(tenantId) + " " + SqliteModel.FeatureToken(feature ?? "");
}
