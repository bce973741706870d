using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Keys;

internal sealed class ApiKeyConfiguration : IEntityTypeConfiguration<ApiKey>
{
    public void Configure(EntityTypeBuilder<ApiKey> b)
    {
        b.ToTable("api_keys");
        b.Property(k => k.Name).HasMaxLength(128);
        b.Property(k => k.Prefix).HasMaxLength(16);
        b.Property(k => k.Hash).HasMaxLength(64);
        b.Property(k => k.Scopes).HasMaxLength(256);
        b.Property(k => k.AllowedModels).HasMaxLength(4096);
        b.Property(k => k.CreatedByUserId).HasMaxLength(64);
        b.Property(k => k.PreviousHash).HasMaxLength(64);
        b.Property(k => k.PreviousPrefix).HasMaxLength(16);
        b.HasIndex(k => k.Hash).IsUnique();
        b.HasIndex(k => k.PreviousHash).IsUnique();
        b.HasIndex(k => new { k.TenantId, k.CreatedUtc });
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(k => k.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
