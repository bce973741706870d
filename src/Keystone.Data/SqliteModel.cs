using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query.SqlExpressions;
using Microsoft.EntityFrameworkCore.Storage;

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
        // SQLite has no vector type: the embedding is float32 bytes, compared in the gateway (a lookup scans one
        // tenant's live entries of one context with SIMD).
        builder.Entity<Caching.SemanticCacheEntry>().Property(e => e.Embedding)
            .HasConversion(v => Caching.EmbeddingBytes.ToBytes(v), b => Caching.EmbeddingBytes.FromBytes(b), Caching.EmbeddingBytes.Comparer);
        Knowledge.KnowledgeModel.ApplySqlite(builder);
        // Trace payloads compressed (Calls.TraceCompression): BLOB columns that still read the plain text stored before.
        builder.Entity<Calls.LlmTrace>(b =>
        {
            foreach (var payload in new[] { nameof(Calls.LlmTrace.RequestJson), nameof(Calls.LlmTrace.ResponseJson), nameof(Calls.LlmTrace.RawRequestJson),
                         nameof(Calls.LlmTrace.RawResponseJson), nameof(Calls.LlmTrace.AttemptsJson) })
            {
                b.Property<string?>(payload).HasConversion(v => Calls.TraceCompression.Compress(v!), v => Calls.TraceCompression.Decompress(v));
            }
        });
        ApplyCallIndexes(builder);
    }

    /// <summary>
    /// The call and trace indexes that differ from PostgreSQL's (<see cref="PostgresModel.ApplyCallIndexes"/>), sized for
    /// SQLite, where Guids and times are text and every index entry repeats them (issue 26, decision 63; bytes per call from
    /// docs/benchmarks.md "Stored per call, index by index").
    /// </summary>
    private static void ApplyCallIndexes(ModelBuilder builder)
    {
        builder.Entity<Calls.LlmCall>(b =>
        {
            // Trace search sorts by cost or latency, newest-first keyset order (value, tie-breaker) descending, in a tenant
            // or across all of them (platform roles). The tie-breaker is the rowid (Calls.CallRowKey), which every index
            // entry ends with: the plan reads a page straight off (tenant_id, cost_micros) without sorting, and the index
            // holds no second copy of the 36-character call id (86 → 48 bytes per call; the all-tenant pair 47 → 10).
            // The all-tenant pair stays: without it "all tenants, slowest first" took 1.8 s p95 at 200,000 calls.
            b.HasIndex(c => new { c.TenantId, c.CostMicros });
            b.HasIndex(c => new { c.TenantId, c.LatencyMs });
            b.HasIndex(c => c.CostMicros);
            b.HasIndex(c => c.LatencyMs);
            // Only calls that name an end user (the request's `user`) have an entry: the others paid 74 bytes each for
            // a key of the tenant, a NULL and the time. A query on `end_user = ?` implies the filter, so it still uses it.
            b.HasIndex(c => new { c.TenantId, c.EndUser, c.CreatedUtc }).HasFilter("end_user IS NOT NULL");
        });
        // Trace retention deletes by age, for the tenants with an override (tenant_id = ? AND created_utc < ?) and for
        // the rest (tenant_id NOT IN (...) AND created_utc < ?): both are a range on the time, which this index serves
        // without the 36-character tenant id in every entry (74 → 36 bytes per call). Nothing else reads traces by tenant.
        builder.Entity<Calls.LlmTrace>().HasIndex(t => t.CreatedUtc);
        // The rowid as a LINQ expression: a column reference on the call row's own table alias.
        builder.HasDbFunction(typeof(Calls.CallRowKey).GetMethod(nameof(Calls.CallRowKey.Of))!)
            .HasTranslation(args => args[0] is ColumnExpression id
                ? new ColumnExpression("rowid", id.TableAlias, typeof(long), new LongTypeMapping("INTEGER"), nullable: false)
                : throw new InvalidOperationException($"{nameof(Calls.CallRowKey)}.{nameof(Calls.CallRowKey.Of)} takes a call row's Id property."));
    }

    /// <summary>
    /// Full-text search over the redacted trace text: an FTS5 table kept in step with <c>llm_traces</c> by
    /// triggers, so the index is written in the same transaction as the trace. The table is contentless
    /// (<c>content = ''</c>): the text is already in <c>llm_traces</c>, and search reads only rowids and the call
    /// id, which <c>contentless_unindexed</c> keeps; <c>contentless_delete</c> lets the triggers and retention
    /// delete rows. EF Core migrations cannot
    /// describe virtual tables or triggers, and the migration sets are regenerated rather than stacked, so
    /// this is applied (idempotently) by <see cref="DatabaseMigrator"/> after the migrations, the way
    /// row-level security is on PostgreSQL (docs/decisions: trace full-text search).
    /// </summary>
    /// <remarks>
    /// The FTS rowid is a time key: the trace's creation time in whole milliseconds since 1970 times
    /// <see cref="KeyPerMillisecond"/>, plus the trace row's rowid modulo that (unique among the few calls
    /// created in the same millisecond). FTS5 walks its rowids in either direction and seeks rowid ranges
    /// without reading the stored text, so the newest matches of a common word are found without
    /// materializing every match (issue 7: a common word took 3–4 s at a million traces), and a time window
    /// becomes a rowid range. The key is computed with integer arithmetic from EF Core's SQLite text format
    /// (<c>yyyy-MM-dd HH:mm:ss.FFFFFFF</c>), truncating to the millisecond exactly like
    /// <see cref="MillisecondsOf"/>; <c>llm_traces.created_utc</c> equals its call's <c>created_utc</c>
    /// (the recorder writes both from the call). The <c>scope</c> column holds a tenant token and a feature token
    /// (<see cref="TenantToken"/>, <see cref="FeatureToken"/>; the feature read from the call, which the recorder
    /// inserts before its trace), so a tenant's or a feature's matches are intersected inside FTS5.
    /// The index keeps which column a word is in, not its positions (<c>detail = column</c>): search asks for words
    /// (AND), never phrases, and positions were most of the index's bytes and insert work (issue 26). Changing the
    /// layout (a new trigger version) rebuilds the index from <c>search_text</c> for the traces that have it and resets
    /// the background indexer's watermark (<see cref="IndexStateSql"/>), which re-derives the text of the others (the
    /// call recorder's traces) from their payloads.
    /// REVIEW: a <c>VACUUM</c> may renumber <c>llm_traces</c>
    /// rowids; search stays correct (it reads the call id) and the retention job drops index rows whose
    /// trace is gone; a trace not yet indexed when a VACUUM renumbered it below the watermark would stay unsearchable
    /// (the product never runs VACUUM; an operator who does should let the indexer catch up first).
    /// </remarks>
    public const string FullTextSql = """
        CREATE VIRTUAL TABLE IF NOT EXISTS llm_traces_fts USING fts5(search_text, scope, call_id UNINDEXED, tokenize = 'porter unicode61', content = '', contentless_delete = 1, contentless_unindexed = 1, detail = column);
        CREATE TRIGGER IF NOT EXISTS llm_traces_fts_v5_insert AFTER INSERT ON llm_traces WHEN new.search_text IS NOT NULL BEGIN
          INSERT INTO llm_traces_fts(rowid, search_text, scope, call_id) VALUES (
            (CAST(strftime('%s', substr(new.created_utc, 1, 19)) AS INTEGER) * 1000 + CAST(substr(new.created_utc || '000', 21, 3) AS INTEGER)) * 1000000 + new.rowid % 1000000,
            new.search_text,
            't' || lower(replace(new.tenant_id, '-', '')) || ' f' || lower(hex(coalesce((SELECT feature FROM llm_calls WHERE id = new.call_id), ''))),
            new.call_id);
        END;
        CREATE TRIGGER IF NOT EXISTS llm_traces_fts_v5_delete AFTER DELETE ON llm_traces BEGIN
          DELETE FROM llm_traces_fts WHERE rowid =
            (CAST(strftime('%s', substr(old.created_utc, 1, 19)) AS INTEGER) * 1000 + CAST(substr(old.created_utc || '000', 21, 3) AS INTEGER)) * 1000000 + old.rowid % 1000000;
        END;
        CREATE TRIGGER IF NOT EXISTS llm_traces_fts_v5_update AFTER UPDATE OF search_text, created_utc ON llm_traces BEGIN
          DELETE FROM llm_traces_fts WHERE rowid =
            (CAST(strftime('%s', substr(old.created_utc, 1, 19)) AS INTEGER) * 1000 + CAST(substr(old.created_utc || '000', 21, 3) AS INTEGER)) * 1000000 + old.rowid % 1000000;
          INSERT INTO llm_traces_fts(rowid, search_text, scope, call_id) SELECT
            (CAST(strftime('%s', substr(new.created_utc, 1, 19)) AS INTEGER) * 1000 + CAST(substr(new.created_utc || '000', 21, 3) AS INTEGER)) * 1000000 + new.rowid % 1000000,
            new.search_text,
            't' || lower(replace(new.tenant_id, '-', '')) || ' f' || lower(hex(coalesce((SELECT feature FROM llm_calls WHERE id = new.call_id), ''))),
            new.call_id WHERE new.search_text IS NOT NULL;
        END;
        """;

    /// <summary>The triggers <see cref="FullTextSql"/> installs; any other <c>llm_traces_fts%</c> trigger is from an older index layout.</summary>
    private static readonly string[] FullTextTriggers = ["llm_traces_fts_v5_delete", "llm_traces_fts_v5_insert", "llm_traces_fts_v5_update"];

    /// <summary>
    /// Rebuilds the index from the table (first install, an older index layout, or after a migration rebuilt
    /// <c>llm_traces</c> and dropped its triggers). Dropping the FTS table is much faster than deleting its rows.
    /// Dropping a contentless table with <c>contentless_unindexed</c> leaves its <c>_content</c> shadow table behind
    /// (this SQLite build), and creating the table again then fails: it is dropped too (found by the upgrade test, issue 26).
    /// </summary>
    public const string RebuildFullTextSql = """
        DROP TABLE IF EXISTS llm_traces_fts;
        DROP TABLE IF EXISTS llm_traces_fts_content;
        CREATE VIRTUAL TABLE llm_traces_fts USING fts5(search_text, scope, call_id UNINDEXED, tokenize = 'porter unicode61', content = '', contentless_delete = 1, contentless_unindexed = 1, detail = column);
        INSERT INTO llm_traces_fts(rowid, search_text, scope, call_id)
          SELECT (CAST(strftime('%s', substr(t.created_utc, 1, 19)) AS INTEGER) * 1000 + CAST(substr(t.created_utc || '000', 21, 3) AS INTEGER)) * 1000000 + t.rowid % 1000000,
            t.search_text,
            't' || lower(replace(t.tenant_id, '-', '')) || ' f' || lower(hex(coalesce(c.feature, ''))),
            t.call_id
          FROM llm_traces t LEFT JOIN llm_calls c ON c.id = t.call_id
          WHERE t.search_text IS NOT NULL;
        """;

    /// <summary>
    /// The background indexer's watermark (issue 26, docs/decisions: full-text indexing off the recorder's path): every
    /// trace with a rowid at or below <c>indexed_through</c> is in the index or was written with its text in
    /// <c>search_text</c> (the insert trigger indexed it). The call recorder stores traces without their search text and
    /// without touching the index; <c>SqliteTraceIndex</c> (gateway) derives the text from the stored payloads in large
    /// batches and moves the watermark in the same transaction, so a restart resumes where it stopped and nothing is
    /// indexed twice. Created on upgrade with the watermark at the newest trace: every trace written before was indexed
    /// on write. The guard trigger keeps the watermark honest when SQLite reuses a rowid (a rowid table without
    /// AUTOINCREMENT takes the largest rowid plus one, so deleting the newest traces lets a new trace take a rowid the
    /// watermark has passed): such an insert moves the watermark back below it. Costs one primary-key read per trace.
    /// </summary>
    public const string IndexStateSql = """
        CREATE TABLE IF NOT EXISTS llm_trace_index_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_through INTEGER NOT NULL);
        INSERT OR IGNORE INTO llm_trace_index_state (id, indexed_through) SELECT 1, coalesce(max(rowid), 0) FROM llm_traces;
        CREATE TRIGGER IF NOT EXISTS llm_traces_index_pending AFTER INSERT ON llm_traces WHEN new.search_text IS NULL BEGIN
          UPDATE llm_trace_index_state SET indexed_through = new.rowid - 1 WHERE id = 1 AND indexed_through >= new.rowid;
        END;
        """;

    /// <summary>
    /// The traces in the rowid range ($from, $to] that were stored without <c>search_text</c>, for the gateway's background
    /// indexer: the key and scope as the triggers compute them, the call id, and where the payloads are (the row's own
    /// request and answer, or its pack and slot: the indexer decompresses each pack once and derives the text, redacted), and the
    /// trace's rowid (the recorder hands the text of what it just wrote over by rowid, so the indexer need not derive it).
    /// </summary>
    public const string PendingRangeSql = """
        SELECT (CAST(strftime('%s', substr(t.created_utc, 1, 19)) AS INTEGER) * 1000 + CAST(substr(t.created_utc || '000', 21, 3) AS INTEGER)) * 1000000 + t.rowid % 1000000,
            't' || lower(replace(t.tenant_id, '-', '')) || ' f' || lower(hex(coalesce(c.feature, ''))),
            t.call_id, t.request_json, t.response_json, t.pack_id, t.pack_slot, t.rowid
          FROM llm_traces t LEFT JOIN llm_calls c ON c.id = t.call_id
          WHERE t.rowid > $from AND t.rowid <= $to AND t.search_text IS NULL
          ORDER BY t.rowid;
        """;

    /// <summary>The <c>scope</c> column's token for a tenant (as the triggers write it).</summary>
    public static string TenantToken(Guid tenantId) => "t" + tenantId.ToString("N");

    /// <summary>The <c>scope</c> column's token for a feature: its UTF-8 bytes in hex, so any feature name is one token.</summary>
    public static string FeatureToken(string feature) => "f" + Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(feature));

    /// <summary>
    /// The MATCH expression: every word in the text column; the tenant and feature, when given, in the scope
    /// column, so FTS5 intersects them with the words in its own doclists instead of handing every match of
    /// every tenant to the calls query.
    /// </summary>
    public static string MatchExpression(IReadOnlyList<string> words, Guid? tenantId, string? feature)
    {
        var match = "{search_text} : (" + Calls.FullTextQuery.ToFts5(words) + ")";
        var scope = new List<string>();
        if (tenantId is { } t)
        {
            scope.Add("\"" + TenantToken(t) + "\"");
        }

        if (feature is not null)
        {
            scope.Add("\"" + FeatureToken(feature) + "\"");
        }

        return scope.Count == 0 ? match : match + " AND {scope} : (" + string.Join(' ', scope) + ")";
    }

    /// <summary>
    /// Drops index rows whose trace no longer exists (retention's safety net). Not "no longer has text": the call
    /// recorder stores a trace without <c>search_text</c> and the background indexer indexes it (<see cref="PendingRangeSql"/>),
    /// and clearing <c>search_text</c> on a row that has it removes its index row through the update trigger.
    /// </summary>
    public const string PurgeOrphanedFullTextSql = """
        DELETE FROM llm_traces_fts WHERE call_id NOT IN (SELECT call_id FROM llm_traces);
        """;

    /// <summary>FTS rowids per millisecond of creation time (see <see cref="FullTextSql"/>).</summary>
    public const long KeyPerMillisecond = 1_000_000;

    // Keys stay within a signed 64-bit rowid for these times; bounds outside them are left open.
    private static readonly DateTime FirstKeyedUtc = DateTime.UnixEpoch;
    private static readonly DateTime LastKeyedUtc = new(2250, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Whole milliseconds since 1970, truncated (what the triggers compute from the stored text).</summary>
    public static long MillisecondsOf(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond;

    /// <summary>Smallest key of a trace created at or after <paramref name="fromUtc"/> (inclusive bound).</summary>
    public static long KeyFrom(DateTime? fromUtc) => fromUtc is { } f && f > FirstKeyedUtc && f < LastKeyedUtc
        ? MillisecondsOf(f) * KeyPerMillisecond
        : long.MinValue;

    /// <summary>Exclusive key bound for traces created before <paramref name="toUtc"/>.</summary>
    public static long KeyTo(DateTime? toUtc)
    {
        if (toUtc is not { } t || t <= FirstKeyedUtc || t >= LastKeyedUtc)
        {
            return long.MaxValue;
        }

        // A trace created within the millisecond of an unaligned bound may still be before it.
        var ms = MillisecondsOf(t) + (t.Ticks % TimeSpan.TicksPerMillisecond == 0 ? 0 : 1);
        return ms * KeyPerMillisecond;
    }

    /// <summary>The start of the millisecond a key was created in.</summary>
    public static DateTime MillisecondStartOf(long key)
        => DateTime.UnixEpoch.AddTicks(Math.DivRem(key, KeyPerMillisecond).Quotient * TimeSpan.TicksPerMillisecond);

    /// <summary>
    /// Installs the full-text table and triggers; rebuilds the index when the triggers were missing or of an
    /// older layout (then the old triggers are dropped first).
    /// </summary>
    public static async Task EnsureFullTextAsync(DbContext db, CancellationToken ct)
    {
        await db.Database.ExecuteSqlRawAsync(IndexStateSql, ct);
        var triggers = await db.Database.SqlQuery<string>(
                $"SELECT name AS \"Value\" FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'llm_traces_fts%' ORDER BY name")
            .ToListAsync(ct);
        if (triggers.SequenceEqual(FullTextTriggers, StringComparer.Ordinal))
        {
            return;
        }

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        foreach (var old in triggers)
        {
            // Names come from sqlite_master (not from a user) and are quoted as identifiers; DDL takes no parameters.
#pragma warning disable EF1003
            await db.Database.ExecuteSqlRawAsync("DROP TRIGGER IF EXISTS \"" + old.Replace("\"", "\"\"", StringComparison.Ordinal) + "\";", ct);
#pragma warning restore EF1003
        }

        await db.Database.ExecuteSqlRawAsync(RebuildFullTextSql, ct);
        await db.Database.ExecuteSqlRawAsync(FullTextSql, ct);
        // The rebuild indexed the traces that have search_text; the background indexer re-derives the others (every trace
        // the call recorder wrote since it stopped storing the text) from their payloads, from the first rowid on.
        await db.Database.ExecuteSqlRawAsync("UPDATE llm_trace_index_state SET indexed_through = 0 WHERE id = 1;", ct);
        await tx.CommitAsync(ct);
    }
}
