namespace Keystone.Data.Budgets;

/// <summary>
/// Spend of one <see cref="Budget"/> in one period. Reservations move through <see cref="ReservedMicros"/>
/// and settle into <see cref="SpentMicros"/> with conditional updates (see docs/decisions on budget atomicity).
/// </summary>
public sealed class BudgetCounter : ITenantOwned
{
    public Guid BudgetId { get; set; }

    /// <summary>00:00 UTC of the day, or the 1st of the month 00:00 UTC.</summary>
    public DateTime PeriodStartUtc { get; set; }

    public Guid TenantId { get; set; }

    public long SpentMicros { get; set; }

    public long ReservedMicros { get; set; }

    /// <summary>The highest soft threshold (percent) already announced this period, so each fires once.</summary>
    public int FiredThresholdPercent { get; set; }
}
