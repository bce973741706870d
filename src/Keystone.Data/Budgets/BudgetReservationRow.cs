namespace Keystone.Data.Budgets;

/// <summary>
/// One call's reservation on one <see cref="BudgetCounter"/>, written in PostgreSQL mode in the same transaction as the
/// counter change, so the counters can be reconciled across instances: an open row is a call in flight (its owner and
/// age say whose and since when), a settled row is a cost already in <see cref="BudgetCounter.SpentMicros"/> whose call
/// row may not be written yet (the recorder writes behind the request path). The SQLite mode (one instance) keeps its
/// reservations in memory and leaves this table empty.
/// </summary>
public sealed class BudgetReservationRow : ITenantOwned
{
    /// <summary>The call (<c>llm_calls.id</c> once it is recorded).</summary>
    public Guid CallId { get; set; }

    public Guid BudgetId { get; set; }

    public DateTime PeriodStartUtc { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>What the call reserved (its worst case).</summary>
    public long AmountMicros { get; set; }

    /// <summary>The instance that reserved it (host name and process id), for operators reading the table.</summary>
    public string Owner { get; set; } = "";

    public DateTime CreatedUtc { get; set; }

    /// <summary>What the call settled at; null while it is in flight.</summary>
    public long? SettledMicros { get; set; }

    public DateTime? SettledUtc { get; set; }
}
