using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Calls;

/// <summary>
/// The call recorder's trace payloads, packed per batch and tenant (issue 26, decisions 56 and 69), on both databases.
/// The key is never reused (SQLite's AUTOINCREMENT, PostgreSQL's identity), so a trace row can never point at a later
/// batch's pack.
/// </summary>
internal sealed class LlmTracePackConfiguration : IEntityTypeConfiguration<LlmTracePack>
{
    public void Configure(EntityTypeBuilder<LlmTracePack> b)
    {
        b.ToTable("llm_trace_packs");
        b.HasKey(p => p.Id);
        // Retention finds a tenant's packs by age; one index entry per pack (up to 64 traces), not per call.
        b.HasIndex(p => new { p.TenantId, p.FirstCreatedUtc });
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(p => p.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
