namespace Keystone.Data.Revenue;

/// <summary>
/// One invoiced amount for a tenant and month, imported from a payments provider's CSV export. When a
/// month has invoice lines they are the tenant's revenue for it; otherwise revenue comes from the plan.
/// </summary>
public sealed class InvoiceLine : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>First day of the invoiced month, 00:00 UTC.</summary>
    public DateTime PeriodStartUtc { get; set; }

    public long AmountMicros { get; set; }

    /// <summary>ISO currency code as imported (only USD is accepted).</summary>
    public string Currency { get; set; } = "USD";

    /// <summary>The customer column as it appeared in the file.</summary>
    public string Customer { get; set; } = "";

    /// <summary>The import that brought the line in.</summary>
    public Guid ImportId { get; set; }

    /// <summary>1-based data row number in the imported file.</summary>
    public int SourceRow { get; set; }

    public DateTime ImportedUtc { get; set; }
}
