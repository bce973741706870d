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
        // The job adds to a row by its full key (ON CONFLICT needs the unique index); a tenant's pages read by its
        // (tenant, grain, time) prefix.
        // The founder overview, the margin table and the revenue ledger read every day row of a range. Day rows are
        // scattered among the 24x more hour rows, so reading them from the table touches a page per row; this
        // partial index holds what those pages read, in day order, and is only written when a day row changes.
        // Grain leads so that SQLite's planner (without statistics) prefers it to any (grain, time) index.
        b.HasIndex(r => new
            {
                r.Grain, r.BucketStartUtc, r.TenantId, r.BilledTo, r.Feature, r.Alias, r.Provider, r.Model,
                r.CostMicros, r.Calls, r.Errors, r.Fallbacks, r.CacheHits, r.SavedCostMicros, r.LatencyMsSum,
                r.Lat0, r.Lat1, r.Lat2, r.Lat3, r.Lat4, r.Lat5, r.Lat6, r.Lat7, r.Lat8, r.Lat9,
            })
            .HasDatabaseName("ix_usage_rollups_day_reads")
            .HasFilter("grain = 'Day'");
        b.HasIndex(r => new { r.TenantId, r.Grain, r.BucketStartUtc, r.Feature, r.Alias, r.Provider, r.Model, r.BilledTo }).IsUnique()
            .HasDatabaseName("ux_usage_rollups_key");
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
        b.Property(r => r.BilledTo).HasConversion<string>().HasMaxLength(16);
        b.HasIndex(r => new { r.DayUtc, r.TenantId });
        // The job adds to a row by its full key (ON CONFLICT needs the unique index).
        b.HasIndex(r => new { r.TenantId, r.DayUtc, r.UserId, r.EndUser, r.Feature, r.Model, r.BilledTo }).IsUnique()
            .HasDatabaseName("ux_usage_user_daily_key");
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
