using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Keystone.Data.Budgets;

internal sealed class BudgetConfiguration : IEntityTypeConfiguration<Budget>
{
    public void Configure(EntityTypeBuilder<Budget> b)
    {
        b.ToTable("budgets");
        b.Property(x => x.Scope).HasMaxLength(16);
        b.Property(x => x.Key).HasMaxLength(128);
        b.Property(x => x.Period).HasMaxLength(8);
        b.HasIndex(x => new { x.TenantId, x.Scope, x.Key, x.Period }).IsUnique();
        b.HasOne<Tenancy.Tenant>().WithMany().HasForeignKey(x => x.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class BudgetCounterConfiguration : IEntityTypeConfiguration<BudgetCounter>
{
    public void Configure(EntityTypeBuilder<BudgetCounter> b)
    {
        b.ToTable("budget_counters");
        b.HasKey(x => new { x.BudgetId, x.PeriodStartUtc });
        b.HasOne<Budget>().WithMany().HasForeignKey(x => x.BudgetId).OnDelete(DeleteBehavior.Cascade);
        b.HasIndex(x => new { x.TenantId, x.PeriodStartUtc });
        b.Property(x => x.LastRefusalReason).HasMaxLength(400);
    }
}

internal sealed class BudgetSettingsConfiguration : IEntityTypeConfiguration<BudgetSettings>
{
    public void Configure(EntityTypeBuilder<BudgetSettings> b)
    {
        b.ToTable("budget_settings");
        b.HasKey(x => x.TenantId);
        b.Property(x => x.SoftThresholdsPercent).HasMaxLength(64);
        b.Property(x => x.ActionAtLimit).HasMaxLength(16);
        b.HasOne<Tenancy.Tenant>().WithOne().HasForeignKey<BudgetSettings>(x => x.TenantId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class BudgetReservationRowConfiguration : IEntityTypeConfiguration<BudgetReservationRow>
{
    public void Configure(EntityTypeBuilder<BudgetReservationRow> b)
    {
        b.ToTable("budget_reservations");
        b.HasKey(x => new { x.CallId, x.BudgetId });
        b.Property(x => x.Owner).HasMaxLength(128);
        b.HasOne<Budget>().WithMany().HasForeignKey(x => x.BudgetId).OnDelete(DeleteBehavior.Cascade);
        // The reconciler reads a counter's rows, and finds open rows by age and settled rows by settle time.
        b.HasIndex(x => new { x.BudgetId, x.PeriodStartUtc });
        b.HasIndex(x => x.CreatedUtc);
        b.HasIndex(x => x.SettledUtc);
    }
}
