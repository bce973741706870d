using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;
using NpgsqlTypes;

namespace Keystone.Data;

/// <summary>PostgreSQL-only model details (kept out of the shared entity configurations).</summary>
internal static class PostgresModel
{
    /// <summary>The text search configuration of trace search (stemming, so "refunds" finds "refund").</summary>
    public const string TextSearchConfig = "english";

    /// <summary>
    /// The search vector's insert trigger (decision 0049), installed after the migrations on every <c>--migrate</c>, the
    /// way row-level security is: migration sets are regenerated rather than stacked (decision 12), and a regenerated set
    /// would not carry a trigger. Idempotent; <c>DROP EXPRESSION IF EXISTS</c> turns a generated column of an older
    /// database into the plain column the trigger fills, keeping its values.
    /// </summary>
    public const string SearchVectorTriggerSql = $$"""
        ALTER TABLE llm_traces ALTER COLUMN search_vector DROP EXPRESSION IF EXISTS;
        CREATE OR REPLACE FUNCTION llm_traces_search_vector() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
          NEW.search_vector := strip(to_tsvector('{{TextSearchConfig}}', coalesce(NEW.search_text, '')));
          NEW.search_text := NULL;
          RETURN NEW;
        END
        $fn$;
        DROP TRIGGER IF EXISTS llm_traces_search_vector ON llm_traces;
        CREATE TRIGGER llm_traces_search_vector BEFORE INSERT OR UPDATE OF search_text ON llm_traces
          FOR EACH ROW EXECUTE FUNCTION llm_traces_search_vector();
        """;

    public static void Apply(ModelBuilder builder)
    {
        // Full-text search over the redacted trace text: a tsvector with a GIN index, written with the row. The
        // insert trigger (migration TraceStoragePg, function llm_traces_search_vector) computes it from search_text,
        // without positions (search asks for words, never phrases), and then drops the text: stored, the text was the
        // question and the answer a second time beside the payloads (issue 26). EF Core never writes the column (the
        // trigger does) and never reads it back (as a generated column it was returned to the client on every insert).
        builder.Entity<LlmTrace>(b =>
        {
            var vector = b.Property<NpgsqlTsVector>("SearchVector");
            vector.Metadata.SetBeforeSaveBehavior(Microsoft.EntityFrameworkCore.Metadata.PropertySaveBehavior.Ignore);
            vector.Metadata.SetAfterSaveBehavior(Microsoft.EntityFrameworkCore.Metadata.PropertySaveBehavior.Ignore);
            b.HasIndex("SearchVector").HasMethod("GIN");
            b.HasStorageParameter("toast_tuple_target", 256);
            // The payloads: lz4 rather than pglz (a few times cheaper per byte for the database's CPU, which shares
            // the machine with the gateway; within a tenth of pglz's size on trace JSON), and a low TOAST target: a row
            // over 2 KB (a realistic request) then has its answer compressed too, not only its largest value until the
            // row fits in 2 KB (docs/benchmarks.md, "Recording cost and storage").
            foreach (var payload in new[] { nameof(LlmTrace.RequestJson), nameof(LlmTrace.ResponseJson), nameof(LlmTrace.RawRequestJson),
                         nameof(LlmTrace.RawResponseJson), nameof(LlmTrace.AttemptsJson) })
            {
                b.Property<string?>(payload).UseCompressionMethod("lz4");
            }
        });
        // clock_timestamp(), not now(): within one long transaction now() is frozen at its start.
        builder.Entity<Calls.LlmCall>().Property(c => c.IngestedUtc).HasDefaultValueSql("clock_timestamp()");
        // pgvector: the lookup orders one context's entries by cosine distance in the database. No dimension in the
        // column type (each embedding model has its own length); the migration LocalEmbeddingsPg adds one partial HNSW
        // index per common length over the column cast to vector(n) (SemanticCacheEntry.IndexedDimensions), which
        // migrations cannot describe in the model.
        builder.Entity<Caching.SemanticCacheEntry>().Property(e => e.Embedding).HasColumnType("vector")
            .HasConversion(v => new Pgvector.Vector(v), v => v.ToArray(), Caching.EmbeddingBytes.Comparer);
        Knowledge.KnowledgeModel.ApplyPostgres(builder);
        ApplyCallIndexes(builder);
    }

    /// <summary>
    /// The call and trace indexes that differ from SQLite's (<see cref="SqliteModel"/>, issue 26): unchanged on PostgreSQL,
    /// where Guids are 16 bytes and the keyset tie-breaker of the trace search's cost and latency sorts is the call id.
    /// </summary>
    private static void ApplyCallIndexes(ModelBuilder builder)
    {
        builder.Entity<LlmCall>(b =>
        {
            // Keyset order (value, id) descending: a page is read straight off the index (issue 7).
            b.HasIndex(c => new { c.TenantId, c.CostMicros, c.Id });
            b.HasIndex(c => new { c.TenantId, c.LatencyMs, c.Id });
            b.HasIndex(c => new { c.CostMicros, c.Id });
            b.HasIndex(c => new { c.LatencyMs, c.Id });
            b.HasIndex(c => new { c.TenantId, c.EndUser, c.CreatedUtc });
        });
        builder.Entity<LlmTrace>().HasIndex(t => new { t.TenantId, t.CreatedUtc });
    }
}
