using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Routing;

internal sealed class TenantModelPolicyConfiguration : IEntityTypeConfiguration<TenantModelPolicy>
{
    public void Configure(EntityTypeBuilder<TenantModelPolicy> b)
    {
        b.ToTable("tenant_model_policies");
        b.HasKey(x => x.TenantId);
        b.Property(x => x.AllowedModels).HasMaxLength(2000);
        b.Property(x => x.AliasOverridesJson).HasMaxLength(4000);
        b.HasOne<Tenancy.Tenant>().WithOne().HasForeignKey<TenantModelPolicy>(x => x.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}
