using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Audit;

internal sealed class AuditEntryConfiguration : IEntityTypeConfiguration<AuditEntry>
{
    public void Configure(EntityTypeBuilder<AuditEntry> b)
    {
        b.ToTable("audit_log");
        b.Property(a => a.ActorType).HasMaxLength(16);
        b.Property(a => a.ActorId).HasMaxLength(128);
        b.Property(a => a.ActorName).HasMaxLength(256);
        b.Property(a => a.OnBehalfOf).HasMaxLength(128);
        b.Property(a => a.Action).HasMaxLength(64);
        b.Property(a => a.Target).HasMaxLength(256);
        b.Property(a => a.MetadataJson).HasMaxLength(4000);
        b.HasIndex(a => new { a.TenantId, a.CreatedUtc });
        b.HasIndex(a => a.CreatedUtc);
        b.HasIndex(a => new { a.Action, a.CreatedUtc });
    }
}
