using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Evals;

internal sealed class EvalToleranceConfiguration : IEntityTypeConfiguration<EvalTolerance>
{
    public void Configure(EntityTypeBuilder<EvalTolerance> b)
    {
        b.ToTable("eval_tolerances");
        b.Property(t => t.PromptName).HasMaxLength(64);
        b.Property(t => t.OwnerKey).HasMaxLength(64);
        b.Property(t => t.UpdatedByUserId).HasMaxLength(64);
        b.Property(t => t.UpdatedByName).HasMaxLength(256);
        b.HasIndex(t => new { t.PromptName, t.OwnerKey }).IsUnique();
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(t => t.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class EvalBaselineConfiguration : IEntityTypeConfiguration<EvalBaseline>
{
    public void Configure(EntityTypeBuilder<EvalBaseline> b)
    {
        b.ToTable("eval_baselines");
        b.Property(x => x.PromptName).HasMaxLength(64);
        b.Property(x => x.Alias).HasMaxLength(128);
        b.Property(x => x.Source).HasMaxLength(16);
        // One baseline per activation and set: two runs finishing at once after an activation cannot both become it.
        b.HasIndex(x => new { x.ActivationId, x.SetId }).IsUnique();
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(x => x.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class EvalDriftAlertConfiguration : IEntityTypeConfiguration<EvalDriftAlert>
{
    public void Configure(EntityTypeBuilder<EvalDriftAlert> b)
    {
        b.ToTable("eval_drift_alerts");
        // 128: a feature's alert names its set (feature:<label>, up to 72 characters), a prompt's alert the prompt.
        b.Property(a => a.PromptName).HasMaxLength(128);
        b.Property(a => a.Alias).HasMaxLength(128);
        b.Property(a => a.Model).HasMaxLength(256);
        b.Property(a => a.SetName).HasMaxLength(128);
        b.Property(a => a.ChangedExamplesJson).HasMaxLength(32_000);
        b.Property(a => a.Status).HasConversion<string>().HasMaxLength(16);
        b.Property(a => a.OpenKey).HasMaxLength(256);
        b.Property(a => a.HandledByUserId).HasMaxLength(64);
        b.Property(a => a.HandledByName).HasMaxLength(256);
        b.HasIndex(a => a.OpenKey).IsUnique();
        // The notifications list open alerts newest first; the prompt page lists a prompt's alerts.
        b.HasIndex(a => new { a.Status, a.CreatedUtc });
        b.HasIndex(a => new { a.PromptName, a.CreatedUtc });
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(a => a.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
