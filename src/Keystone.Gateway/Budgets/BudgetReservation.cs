using Keystone.Gateway.Pipeline;

namespace Keystone.Gateway.Budgets;

/// <summary>One counter a reservation holds an amount on.</summary>
internal sealed record ReservedCap(CapRow Cap, DateTime PeriodStartUtc);

/// <summary>What a call reserved; settled with the actual cost or released on failure, exactly once.</summary>
internal sealed class BudgetReservation(Guid tenantId, long amountMicros, IReadOnlyList<ReservedCap> caps, Guid callId = default,
    DateTime createdUtc = default, bool isHold = false)
{
    private int _closed;

    public Guid TenantId { get; } = tenantId;

    /// <summary>The call holding it (the reservation rows' key in PostgreSQL mode).</summary>
    public Guid CallId { get; } = callId;

    /// <summary>When it was made: a reservation older than the longest possible call belongs to no live call.</summary>
    public DateTime CreatedUtc { get; } = createdUtc;

    public long AmountMicros { get; } = amountMicros;

    public IReadOnlyList<ReservedCap> Caps { get; } = caps;

    /// <summary>
    /// A batch line's hold (docs/decisions/0049-eval-batch-mode.md): its call runs at the provider for up to a day, so
    /// the reconciler keeps it for <see cref="BudgetLedger.HoldLifetime"/> instead of the longest live call.
    /// </summary>
    public bool IsHold { get; } = isHold;

    /// <summary>True the first time only: guards against settling twice.</summary>
    public bool TryClose() => Interlocked.Exchange(ref _closed, 1) == 0;

    /// <summary>Whether it was settled (or given up as stale).</summary>
    public bool IsClosed => Volatile.Read(ref _closed) == 1;

    /// <summary>A reservation against no caps (support replays, tenants without caps).</summary>
    public static BudgetReservation None(Guid tenantId) => new(tenantId, 0, []);
}

/// <summary>A cap that refused a reservation.</summary>
internal sealed record BudgetRejection(CapRow Cap, long SpentMicros, long ReservedMicros, DateTime ResetsAtUtc);
