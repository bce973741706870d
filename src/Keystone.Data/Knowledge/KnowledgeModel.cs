using Microsoft.EntityFrameworkCore;
using NpgsqlTypes;

namespace Keystone.Data.Knowledge;

/// <summary>
/// The knowledge tables' provider details (docs/decisions/0038-knowledge-retrieval.md): the text index and the vector
/// column differ per database. Called from <see cref="PostgresModel"/> and <see cref="SqliteModel"/>; the indexes EF Core
/// cannot describe are applied idempotently by <see cref="DatabaseMigrator"/> after the migrations.
/// </summary>
public static class KnowledgeModel
{
    /// <summary>
    /// Dimensions that get an HNSW index on PostgreSQL. HNSW needs a fixed dimension and the column has none (one
    /// column holds every model's vectors), so each index is a partial expression index on
    /// <c>vector::vector(n)</c> for the rows of that dimension: MiniLM (384), the common 768 and 1024, and OpenAI's
    /// small model (1536). A model of another dimension is searched exactly (a sequential scan of that tenant's rows
    /// of that model): correct, slower at scale.
    /// </summary>
    public static readonly IReadOnlyList<int> IndexedDimensions = [384, 768, 1024, 1536];

    /// <summary>Name of the HNSW index for one dimension.</summary>
    public static string HnswIndexName(int dimensions) => $"ix_knowledge_embeddings_hnsw_{dimensions}";

    internal static void ApplyPostgres(ModelBuilder builder)
    {
        // Full-text: a stored generated tsvector of the header and text with a GIN index, written with the row.
        builder.Entity<KnowledgeChunk>(b =>
        {
            b.Property<NpgsqlTsVector>("SearchVector")
                .HasComputedColumnSql("to_tsvector('english', coalesce(header, '') || ' ' || coalesce(text, ''))", stored: true);
            b.HasIndex("SearchVector").HasMethod("GIN");
        });
        // No dimension in the column type: every model's vectors share the column; see IndexedDimensions.
        builder.Entity<KnowledgeEmbedding>().Property(e => e.Vector).HasColumnType("vector")
            .HasConversion(v => new Pgvector.Vector(v), v => v.ToArray(), Caching.EmbeddingBytes.Comparer);
    }

    internal static void ApplySqlite(ModelBuilder builder)
        => builder.Entity<KnowledgeEmbedding>().Property(e => e.Vector)
            .HasConversion(v => Caching.EmbeddingBytes.ToBytes(v), b => Caching.EmbeddingBytes.FromBytes(b), Caching.EmbeddingBytes.Comparer);

    /// <summary>The HNSW indexes (cosine), one per <see cref="IndexedDimensions"/>; run as the owner.</summary>
    internal static async Task EnsurePostgresAsync(DbContext owner, CancellationToken ct)
    {
        foreach (var dims in IndexedDimensions)
        {
            // Integers from the list above, not user input; DDL takes no parameters.
#pragma warning disable EF1002
            await owner.Database.ExecuteSqlRawAsync(
                $"CREATE INDEX IF NOT EXISTS {HnswIndexName(dims)} ON knowledge_embeddings USING hnsw ((vector::vector({dims})) vector_cosine_ops) WHERE dimensions = {dims};", ct);
#pragma warning restore EF1002
        }
    }

    /// <summary>
    /// The SQLite text index: a contentless FTS5 table keyed by the chunk's rowid, kept in step by triggers (so it is
    /// written in the chunk's transaction), with a scope token per tenant so a tenant's matches are intersected inside
    /// FTS5 (the trace index does the same, <see cref="SqliteModel"/>).
    /// </summary>
    public const string SqliteFullTextSql = """
        CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_chunks_fts USING fts5(header, text, scope, chunk_id UNINDEXED, tokenize = 'porter unicode61', content = '', contentless_delete = 1, contentless_unindexed = 1);
        CREATE TRIGGER IF NOT EXISTS knowledge_chunks_fts_insert AFTER INSERT ON knowledge_chunks BEGIN
          INSERT INTO knowledge_chunks_fts(rowid, header, text, scope, chunk_id) VALUES (new.rowid, new.header, new.text, 't' || lower(replace(new.tenant_id, '-', '')), new.id);
        END;
        CREATE TRIGGER IF NOT EXISTS knowledge_chunks_fts_delete AFTER DELETE ON knowledge_chunks BEGIN
          DELETE FROM knowledge_chunks_fts WHERE rowid = old.rowid;
        END;
        CREATE TRIGGER IF NOT EXISTS knowledge_chunks_fts_update AFTER UPDATE OF header, text ON knowledge_chunks BEGIN
          DELETE FROM knowledge_chunks_fts WHERE rowid = old.rowid;
          INSERT INTO knowledge_chunks_fts(rowid, header, text, scope, chunk_id) VALUES (new.rowid, new.header, new.text, 't' || lower(replace(new.tenant_id, '-', '')), new.id);
        END;
        """;

    /// <summary>The scope token of a tenant in <c>knowledge_chunks_fts</c>.</summary>
    public static string SqliteTenantToken(Guid tenantId) => "t" + tenantId.ToString("N");

    internal static Task EnsureSqliteAsync(DbContext db, CancellationToken ct) => db.Database.ExecuteSqlRawAsync(SqliteFullTextSql, ct);
}
