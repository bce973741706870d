using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Agents;

internal sealed class McpServerConfiguration : IEntityTypeConfiguration<McpServer>
{
    public void Configure(EntityTypeBuilder<McpServer> b)
    {
        b.ToTable("mcp_servers");
        b.Property(s => s.Name).HasMaxLength(24);
        b.Property(s => s.Url).HasMaxLength(2_000);
        b.Property(s => s.ProtectedAuthHeader).HasMaxLength(8_000);
        b.Property(s => s.AuthHeaderHint).HasMaxLength(16);
        b.Property(s => s.State).HasMaxLength(16);
        b.Property(s => s.LastError).HasMaxLength(1_000);
        b.Property(s => s.CreatedByUserId).HasMaxLength(64);
        b.HasIndex(s => new { s.TenantId, s.Name }).IsUnique();
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(s => s.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
