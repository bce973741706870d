using Keystone.Data.Calls;
using Microsoft.EntityFrameworkCore;
using NpgsqlTypes;

namespace Keystone.Data;

/// <summary>PostgreSQL-only model details (kept out of the shared entity configurations).</summary>
internal static class PostgresModel
{
    /// <summary>The text search configuration of trace search (stemming, so "refunds" finds "refund").</summary>
    public const string TextSearchConfig = "english";

    public static void Apply(ModelBuilder builder)
    {
        // Full-text search over the redacted trace text: a stored generated tsvector with a GIN index, so the
        // index is written with the row and survives regenerated migrations as part of the model.
        builder.Entity<LlmTrace>(b =>
        {
            b.Property<NpgsqlTsVector>("SearchVector")
                .HasComputedColumnSql($"to_tsvector('{TextSearchConfig}', coalesce(search_text, ''))", stored: true);
            b.HasIndex("SearchVector").HasMethod("GIN");
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
    }
}
