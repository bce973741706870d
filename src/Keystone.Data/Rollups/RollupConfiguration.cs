using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Rollups;

internal sealed class UsageRollupConfiguration : IEntityTypeConfiguration<UsageRollup>
{
    public void Configure(EntityTypeBuilder<UsageRollup> b)
    {
        b.ToTable("usage_rollups");
        b.Property(r => r.Grain).HasConversion<string>().HasMaxLength(8);
        b.Property(r => r.Feature).HasMaxLength(64);
        b.Property(r => r.Alias).HasMaxLength(128);
        b.Property(r => r.Provider).HasMaxLength(64);
        b.Property(r => r.Model).HasMaxLength(128);
        b.Property(r => r.BilledTo).HasConversion<string>().HasMaxLength(16);
        // Dashboards read day rows by time (and tenant). The job adds to a row by its full key (ON CONFLICT needs
        // the unique index); a tenant's pages read by its (tenant, grain, time) prefix.
        b.HasIndex(r => new { r.Grain, r.BucketStartUtc, r.TenantId });
        b.HasIndex(r => new { r.TenantId, r.Grain, r.BucketStartUtc, r.Feature, r.Alias, r.Provider, r.Model, r.BilledTo }).IsUnique();
    }
}

internal sealed class UserUsageRollupConfiguration : IEntityTypeConfiguration<UserUsageRollup>
{
    public void Configure(EntityTypeBuilder<UserUsageRollup> b)
    {
        b.ToTable("usage_user_daily");
        b.Property(r => r.UserId).HasMaxLength(64);
        b.Property(r => r.EndUser).HasMaxLength(256);
        b.Property(r => r.Feature).HasMaxLength(64);
        b.Property(r => r.Model).HasMaxLength(128);
        b.HasIndex(r => new { r.DayUtc, r.TenantId });
        // The job adds to a row by its full key (ON CONFLICT needs the unique index).
        b.HasIndex(r => new { r.TenantId, r.DayUtc, r.UserId, r.EndUser, r.Feature, r.Model }).IsUnique();
    }
}

internal sealed class RollupStateConfiguration : IEntityTypeConfiguration<RollupState>
{
    public void Configure(EntityTypeBuilder<RollupState> b)
    {
        b.ToTable("rollup_state");
        b.HasKey(s => s.Name);
        b.Property(s => s.Name).HasMaxLength(32);
    }
}
