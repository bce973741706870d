using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Caching;

internal sealed class ExactCacheEntryConfiguration : IEntityTypeConfiguration<ExactCacheEntry>
{
    public void Configure(EntityTypeBuilder<ExactCacheEntry> b)
    {
        b.ToTable("exact_cache_entries");
        b.HasKey(x => new { x.TenantId, x.Key });
        b.Property(x => x.Key).HasMaxLength(64);
        b.Property(x => x.Alias).HasMaxLength(128);
        b.Property(x => x.Provider).HasMaxLength(64);
        b.Property(x => x.Model).HasMaxLength(128);
        b.HasIndex(x => x.ExpiresUtc);
    }
}

internal sealed class SemanticCacheEntryConfiguration : IEntityTypeConfiguration<SemanticCacheEntry>
{
    public void Configure(EntityTypeBuilder<SemanticCacheEntry> b)
    {
        // The embedding's column type is per database (SqliteModel, PostgresModel).
        b.ToTable("semantic_cache_entries");
        b.HasKey(x => x.Id);
        b.Property(x => x.ContextKey).HasMaxLength(64);
        b.Property(x => x.Question).HasMaxLength(SemanticCacheEntry.QuestionMaxLength);
        b.Property(x => x.Alias).HasMaxLength(128);
        b.Property(x => x.Provider).HasMaxLength(64);
        b.Property(x => x.Model).HasMaxLength(128);
        b.Property(x => x.EmbeddingModel).HasMaxLength(SemanticCacheEntry.EmbeddingModelMaxLength).HasDefaultValue("");
        // A lookup reads one tenant's entries of one context (PostgreSQL: or walks the HNSW index, PostgresModel);
        // SQLite's in-memory copy asks for the rows added since the last id it saw.
        b.HasIndex(x => new { x.TenantId, x.ContextKey, x.Id });
        b.HasIndex(x => x.ExpiresUtc);
    }
}

internal sealed class FeatureCacheSettingConfiguration : IEntityTypeConfiguration<FeatureCacheSetting>
{
    public void Configure(EntityTypeBuilder<FeatureCacheSetting> b)
    {
        b.ToTable("feature_cache_settings");
        b.HasKey(x => new { x.TenantId, x.Feature });
        b.Property(x => x.Feature).HasMaxLength(FeatureCacheSetting.FeatureMaxLength);
        b.Property(x => x.UpdatedByUserId).HasMaxLength(450);
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(x => x.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class IdempotencyRecordConfiguration : IEntityTypeConfiguration<IdempotencyRecord>
{
    public void Configure(EntityTypeBuilder<IdempotencyRecord> b)
    {
        b.ToTable("idempotency_records");
        b.HasKey(x => new { x.TenantId, x.Key });
        b.Property(x => x.Key).HasMaxLength(256);
        b.HasIndex(x => x.ExpiresUtc);
    }
}
