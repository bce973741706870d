using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Knowledge;

internal sealed class KnowledgeDocumentConfiguration : IEntityTypeConfiguration<KnowledgeDocument>
{
    public void Configure(EntityTypeBuilder<KnowledgeDocument> b)
    {
        b.ToTable("knowledge_documents");
        b.Property(e => e.Name).HasMaxLength(KnowledgeDocument.NameMaxLength);
        b.Property(e => e.Title).HasMaxLength(KnowledgeDocument.NameMaxLength);
        b.Property(e => e.Kind).HasMaxLength(16);
        b.Property(e => e.Tags).HasMaxLength(KnowledgeDocument.TagsMaxLength);
        // Two changes of one document at once: the second's update finds the hash changed and starts again.
        b.Property(e => e.ContentHash).HasMaxLength(64).IsConcurrencyToken();
        // Two uploads of the same name at once: the second insert fails here instead of making a twin.
        b.HasIndex(e => new { e.TenantId, e.Name }).IsUnique();
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(e => e.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class KnowledgeChunkConfiguration : IEntityTypeConfiguration<KnowledgeChunk>
{
    public void Configure(EntityTypeBuilder<KnowledgeChunk> b)
    {
        b.ToTable("knowledge_chunks");
        b.Property(e => e.Section).HasMaxLength(KnowledgeChunk.SectionMaxLength);
        b.Property(e => e.Header).HasMaxLength(KnowledgeChunk.HeaderMaxLength);
        b.Property(e => e.Text).HasMaxLength(KnowledgeChunk.TextMaxLength);
        b.Property(e => e.ContentHash).HasMaxLength(64);
        b.HasIndex(e => new { e.DocumentId, e.Position });
        b.HasIndex(e => e.TenantId);
        b.HasOne<KnowledgeDocument>().WithMany().HasForeignKey(e => e.DocumentId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class KnowledgeEmbeddingConfiguration : IEntityTypeConfiguration<KnowledgeEmbedding>
{
    public void Configure(EntityTypeBuilder<KnowledgeEmbedding> b)
    {
        b.ToTable("knowledge_embeddings");
        b.HasKey(e => new { e.ChunkId, e.Model });
        b.Property(e => e.Model).HasMaxLength(KnowledgeEmbedding.ModelMaxLength);
        // The per-tenant scan of one model (SQLite) and the progress count per document read this.
        b.HasIndex(e => new { e.TenantId, e.Model });
        b.HasIndex(e => new { e.DocumentId, e.Model });
        b.HasOne<KnowledgeChunk>().WithMany().HasForeignKey(e => e.ChunkId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class KnowledgeOutboxEntryConfiguration : IEntityTypeConfiguration<KnowledgeOutboxEntry>
{
    public void Configure(EntityTypeBuilder<KnowledgeOutboxEntry> b)
    {
        b.ToTable("knowledge_outbox");
        b.Property(e => e.Model).HasMaxLength(KnowledgeEmbedding.ModelMaxLength);
        b.Property(e => e.LastError).HasMaxLength(KnowledgeOutboxEntry.ErrorMaxLength);
        // The job's claim: open rows due now, oldest first.
        b.HasIndex(e => new { e.DoneUtc, e.FailedUtc, e.NextAttemptUtc });
        b.HasIndex(e => e.LeaseToken);
        b.HasIndex(e => new { e.DocumentId, e.Model });
        b.HasIndex(e => e.ChunkId);
        b.HasOne<KnowledgeChunk>().WithMany().HasForeignKey(e => e.ChunkId).OnDelete(DeleteBehavior.Cascade);
    }
}
