using System.Diagnostics.CodeAnalysis;

namespace Keystone.Web.Features.Usage;

/// <summary>One slice of a tenant's usage (a feature, a model, a user).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (SliceTable.Slices): Razor components are public and Blazor parameters must be public properties.")]
public sealed record UsageSlice(string Key, string Label, long Calls, long Errors, long CostMicros, long ActiveUsers)
{
    /// <summary>
    /// The "by model" label of calls no model answered: cache hits (served from an earlier answer) and refusals
    /// before any provider (budget, rate limit). "(none)" read like missing data.
    /// </summary>
    public const string NoModelLabel = "No model called (cache hits, refusals)";

    public long? CostPerCallMicros => Calls == 0 ? null : CostMicros / Calls;

    public long? CostPerActiveUserMicros => ActiveUsers == 0 ? null : CostMicros / ActiveUsers;
}
