using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Evals;

internal sealed class EvalSetConfiguration : IEntityTypeConfiguration<EvalSet>
{
    public void Configure(EntityTypeBuilder<EvalSet> b)
    {
        b.ToTable("eval_sets");
        b.Property(e => e.OwnerKey).HasMaxLength(40);
        b.Property(e => e.Name).HasMaxLength(128);
        b.Property(e => e.PromptName).HasMaxLength(128);
        b.Property(e => e.Description).HasMaxLength(2000);
        b.Property(e => e.Feature).HasMaxLength(64);
        b.Property(e => e.NightlyAlias).HasMaxLength(128);
        // Two editors creating the same set at once: the second insert fails here instead of making a twin.
        b.HasIndex(e => new { e.OwnerKey, e.Name }).IsUnique();
        b.HasIndex(e => e.PromptName);
        b.HasIndex(e => e.Feature);
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(e => e.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
