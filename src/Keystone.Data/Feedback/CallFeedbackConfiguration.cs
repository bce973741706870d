using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Feedback;

internal sealed class CallFeedbackConfiguration : IEntityTypeConfiguration<CallFeedback>
{
    public void Configure(EntityTypeBuilder<CallFeedback> b)
    {
        b.ToTable("feedback");
        b.Property(f => f.Comment).HasMaxLength(2000);
        b.Property(f => f.EndUser).HasMaxLength(256);
        b.Property(f => f.UserId).HasMaxLength(64);
        b.HasIndex(f => new { f.TenantId, f.TraceId });
        b.HasIndex(f => new { f.TenantId, f.CreatedUtc });
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(f => f.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
