namespace Keystone.Data.Calls;

/// <summary>
/// A tenant's own trace retention (enterprise contracts), overriding <c>Traces:RawDays</c> and
/// <c>Traces:RedactedDays</c>. No row: the defaults apply.
/// </summary>
public sealed class TraceRetentionPolicy : ITenantOwned
{
    public Guid TenantId { get; set; }

    /// <summary>Days the unredacted payload is kept (null: the default).</summary>
    public int? RawDays { get; set; }

    /// <summary>Days the redacted payload is kept (null: the default).</summary>
    public int? RedactedDays { get; set; }

    public DateTime UpdatedUtc { get; set; }
}
