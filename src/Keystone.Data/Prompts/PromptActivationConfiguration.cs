using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Prompts;

internal sealed class PromptActivationConfiguration : IEntityTypeConfiguration<PromptActivation>
{
    public void Configure(EntityTypeBuilder<PromptActivation> b)
    {
        b.ToTable("prompt_activations");
        b.Property(a => a.ActivatedByUserId).HasMaxLength(64);
        b.Property(a => a.ActivatedByName).HasMaxLength(256);
        // The resolver reads the latest row per (prompt, tenant or global).
        b.HasIndex(a => new { a.PromptId, a.TenantId, a.Id });
        b.HasOne<Prompt>().WithMany().HasForeignKey(a => a.PromptId).OnDelete(DeleteBehavior.Cascade);
        b.HasOne<PromptVersion>().WithMany().HasForeignKey(a => a.VersionId).OnDelete(DeleteBehavior.Restrict);
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(a => a.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
