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

    /// <summary>Calls this cap refused this period (their worst case did not fit), so the budgets page can say so.</summary>
    public int RefusedCount { get; set; }

    /// <summary>Why the latest refusal happened, in plain words (the worst case and what was left).</summary>
    public string? LastRefusalReason { get; set; }

    /// <summary>When the latest refusal happened.</summary>
    public DateTime? LastRefusedUtc { get; set; }
}
