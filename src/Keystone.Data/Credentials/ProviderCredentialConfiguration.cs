using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Credentials;

internal sealed class ProviderCredentialConfiguration : IEntityTypeConfiguration<ProviderCredential>
{
    public void Configure(EntityTypeBuilder<ProviderCredential> b)
    {
        b.ToTable("provider_credentials");
        b.Property(x => x.Provider).HasMaxLength(64);
        b.Property(x => x.ProtectedSecret).HasMaxLength(4000);
        b.Property(x => x.Last4).HasMaxLength(4);
        b.Property(x => x.BaseUrl).HasMaxLength(512);
        b.Property(x => x.CheckResult).HasMaxLength(16);
        b.Property(x => x.CheckReason).HasMaxLength(300);
        b.HasIndex(x => new { x.TenantId, x.Provider }).IsUnique();
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(x => x.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
