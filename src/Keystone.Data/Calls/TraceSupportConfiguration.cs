using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Calls;

internal sealed class SavedTraceSearchConfiguration : IEntityTypeConfiguration<SavedTraceSearch>
{
    public void Configure(EntityTypeBuilder<SavedTraceSearch> b)
    {
        b.ToTable("saved_trace_searches");
        b.Property(s => s.UserId).HasMaxLength(64);
        b.Property(s => s.Name).HasMaxLength(128);
        b.Property(s => s.Query).HasMaxLength(2000);
        b.HasIndex(s => new { s.UserId, s.Name }).IsUnique();
    }
}

internal sealed class TraceRetentionPolicyConfiguration : IEntityTypeConfiguration<TraceRetentionPolicy>
{
    public void Configure(EntityTypeBuilder<TraceRetentionPolicy> b)
    {
        b.ToTable("trace_retention_policies");
        b.HasKey(p => p.TenantId);
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(p => p.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
