using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Evals;

internal sealed class EvalExampleConfiguration : IEntityTypeConfiguration<EvalExample>
{
    public void Configure(EntityTypeBuilder<EvalExample> b)
    {
        b.ToTable("eval_examples");
        b.Property(e => e.EvalSet).HasMaxLength(128);
        b.Property(e => e.PromptName).HasMaxLength(128);
        b.Property(e => e.ExpectedOutput).HasMaxLength(64_000);
        b.Property(e => e.Notes).HasMaxLength(2000);
        b.Property(e => e.CreatedByUserId).HasMaxLength(64);
        b.Property(e => e.ExpectationsJson).HasMaxLength(32_000);
        b.Property(e => e.Version).IsConcurrencyToken();
        b.HasIndex(e => new { e.TenantId, e.EvalSet, e.CreatedUtc });
        b.HasIndex(e => e.SourceCallId);
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(e => e.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
