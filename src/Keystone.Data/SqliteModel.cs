using Microsoft.EntityFrameworkCore;

namespace Keystone.Data;

/// <summary>SQLite-only model details (kept out of the shared entity configurations).</summary>
internal static class SqliteModel
{
    public static void Apply(ModelBuilder builder)
    {
        // SQLite stores Guid and DateTime as sortable TEXT, long as INTEGER. The ingest time uses the same
        // text shape as EF's DateTime values (millisecond precision), so it compares correctly with them.
        builder.Entity<Calls.LlmCall>().Property(c => c.IngestedUtc)
            .HasDefaultValueSql("strftime('%Y-%m-%d %H:%M:%f', 'now')");
    }

    /// <summary>
    /// Full-text search over the redacted trace text: an FTS5 table kept in step with <c>llm_traces</c> by
    /// triggers, so the index is written in the same transaction as the trace. EF Core migrations cannot
    /// describe virtual tables or triggers, and the migration sets are regenerated rather than stacked, so
    /// this is applied (idempotently) by <see cref="DatabaseMigrator"/> after the migrations, the way
    /// row-level security is on PostgreSQL (docs/decisions: trace full-text search).
    /// </summary>
    /// <remarks>
    /// The FTS table keeps its own copy of the text and the call id, and its rowid is the trace row's
    /// rowid. REVIEW: a <c>VACUUM</c> may renumber <c>llm_traces</c> rowids; search stays correct (it reads
    /// the call id) and the retention job drops index rows whose trace is gone.
    /// </remarks>
    public const string FullTextSql = """
        CREATE VIRTUAL TABLE IF NOT EXISTS llm_traces_fts USING fts5(search_text, call_id UNINDEXED, tokenize = 'porter unicode61');
        CREATE TRIGGER IF NOT EXISTS llm_traces_fts_insert AFTER INSERT ON llm_traces WHEN new.search_text IS NOT NULL BEGIN
          INSERT INTO llm_traces_fts(rowid, search_text, call_id) VALUES (new.rowid, new.search_text, new.call_id);
        END;
        CREATE TRIGGER IF NOT EXISTS llm_traces_fts_delete AFTER DELETE ON llm_traces BEGIN
          DELETE FROM llm_traces_fts WHERE rowid = old.rowid;
        END;
        CREATE TRIGGER IF NOT EXISTS llm_traces_fts_update AFTER UPDATE OF search_text ON llm_traces BEGIN
          DELETE FROM llm_traces_fts WHERE rowid = old.rowid;
          INSERT INTO llm_traces_fts(rowid, search_text, call_id) SELECT new.rowid, new.search_text, new.call_id WHERE new.search_text IS NOT NULL;
        END;
        """;

    /// <summary>Rebuilds the index from the table (first install, or after a migration rebuilt <c>llm_traces</c> and dropped its triggers).</summary>
    public const string RebuildFullTextSql = """
        DELETE FROM llm_traces_fts;
        INSERT INTO llm_traces_fts(rowid, search_text, call_id) SELECT rowid, search_text, call_id FROM llm_traces WHERE search_text IS NOT NULL;
        """;

    /// <summary>Drops index rows whose trace no longer exists or no longer has text (retention's safety net).</summary>
    public const string PurgeOrphanedFullTextSql = """
        DELETE FROM llm_traces_fts WHERE call_id NOT IN (SELECT call_id FROM llm_traces WHERE search_text IS NOT NULL);
        """;

    /// <summary>Installs the full-text table and triggers; rebuilds the index when the triggers were missing.</summary>
    public static async Task EnsureFullTextAsync(DbContext db, CancellationToken ct)
    {
        var triggers = await db.Database.SqlQuery<int>(
                $"SELECT COUNT(*) AS \"Value\" FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'llm_traces_fts_%'")
            .SingleAsync(ct);
        await db.Database.ExecuteSqlRawAsync(FullTextSql, ct);
        if (triggers < 3)
        {
            await db.Database.ExecuteSqlRawAsync(RebuildFullTextSql, ct);
        }
    }
}
