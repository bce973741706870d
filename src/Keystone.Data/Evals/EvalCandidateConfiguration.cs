using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Evals;

internal sealed class EvalCandidateConfiguration : IEntityTypeConfiguration<EvalCandidate>
{
    public void Configure(EntityTypeBuilder<EvalCandidate> b)
    {
        b.ToTable("eval_candidates");
        b.Property(c => c.Feature).HasMaxLength(64);
        b.Property(c => c.PromptName).HasMaxLength(128);
        b.Property(c => c.Alias).HasMaxLength(128);
        b.Property(c => c.Answer).HasMaxLength(64_000);
        b.Property(c => c.Status).HasConversion<string>().HasMaxLength(16);
        b.Property(c => c.ReviewedByUserId).HasMaxLength(64);
        b.Property(c => c.ReviewedByName).HasMaxLength(256);
        // A call is queued once, however often the sampler's overlap reads it.
        b.HasIndex(c => new { c.TenantId, c.CallId }).IsUnique();
        // The review queue: a tenant's pending candidates, oldest first; and the live count.
        b.HasIndex(c => new { c.Status, c.TenantId, c.CreatedUtc });
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(c => c.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class EvalSamplingRateConfiguration : IEntityTypeConfiguration<EvalSamplingRate>
{
    public void Configure(EntityTypeBuilder<EvalSamplingRate> b)
    {
        b.ToTable("eval_sampling_rates");
        b.HasKey(r => new { r.TenantId, r.Feature });
        b.Property(r => r.Feature).HasMaxLength(64);
        b.Property(r => r.UpdatedByUserId).HasMaxLength(64);
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(r => r.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class EvalSamplerStateConfiguration : IEntityTypeConfiguration<EvalSamplerState>
{
    public void Configure(EntityTypeBuilder<EvalSamplerState> b)
    {
        b.ToTable("eval_sampler_state");
        b.HasKey(s => s.Name);
        b.Property(s => s.Name).HasMaxLength(64);
    }
}
