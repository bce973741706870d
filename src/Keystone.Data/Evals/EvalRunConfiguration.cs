using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Evals;

internal sealed class EvalRunConfiguration : IEntityTypeConfiguration<EvalRun>
{
    public void Configure(EntityTypeBuilder<EvalRun> b)
    {
        b.ToTable("eval_runs");
        b.Property(r => r.SetName).HasMaxLength(128);
        b.Property(r => r.PromptName).HasMaxLength(128);
        b.Property(r => r.Alias).HasMaxLength(128);
        b.Property(r => r.Status).HasConversion<string>().HasMaxLength(16);
        b.Property(r => r.Trigger).HasConversion<string>().HasMaxLength(16);
        // Stored as the API names it (live | batch); the migration gives rows from before batch mode 'live'.
        b.Property(r => r.Mode).HasConversion(m => m == EvalRunMode.Batch ? "batch" : "live", s => s == "batch" ? EvalRunMode.Batch : EvalRunMode.Live)
            .HasMaxLength(8);
        b.Property(r => r.ProviderBatchId).HasMaxLength(128);
        b.Property(r => r.WorkerId).HasMaxLength(64);
        b.Property(r => r.FailureReason).HasMaxLength(2000);
        b.Property(r => r.StartedByUserId).HasMaxLength(64);
        b.Property(r => r.StartedByName).HasMaxLength(256);
        // The run list of a set, newest first; the watchdog and the restart look for unfinished runs by status.
        b.HasIndex(r => new { r.SetId, r.CreatedUtc });
        b.HasIndex(r => new { r.Status, r.HeartbeatUtc });
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(r => r.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class EvalResultConfiguration : IEntityTypeConfiguration<EvalResult>
{
    public void Configure(EntityTypeBuilder<EvalResult> b)
    {
        b.ToTable("eval_results");
        b.Property(r => r.Answer).HasMaxLength(64_000);
        b.Property(r => r.Reasons).HasMaxLength(8000);
        b.Property(r => r.Error).HasMaxLength(2000);
        // One result per example and run: two workers racing on one example cannot both count it.
        b.HasIndex(r => new { r.RunId, r.ExampleId }).IsUnique();
        b.HasIndex(r => new { r.RunId, r.CreatedUtc });
        b.HasOne<EvalRun>().WithMany().HasForeignKey(r => r.RunId).OnDelete(DeleteBehavior.Cascade);
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(r => r.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
