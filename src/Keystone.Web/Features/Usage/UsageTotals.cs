namespace Keystone.Web.Features.Usage;

/// <summary>
/// The sums of one group of calls. Money is micro-USD. <see cref="CacheHits"/> and <see cref="SavedCostMicros"/> are
/// zero for the <see cref="UsageGrouping.ModelName"/> and <see cref="UsageGrouping.Member"/> groupings and for one
/// user's calls: they are read from the per-user rollup, which does not keep them.
/// </summary>
internal sealed record UsageTotals(string Key, long Calls, long Errors, long InputTokens, long OutputTokens, long CostMicros,
    long CacheHits, long SavedCostMicros)
{
    /// <summary>Rows with the same key added together (a rolled-up part and a not-yet-rolled-up part of one group).</summary>
    public static IReadOnlyList<UsageTotals> Merge(IEnumerable<UsageTotals> rows) => rows
        .GroupBy(r => r.Key, StringComparer.Ordinal)
        .Select(g => new UsageTotals(g.Key, g.Sum(r => r.Calls), g.Sum(r => r.Errors), g.Sum(r => r.InputTokens),
            g.Sum(r => r.OutputTokens), g.Sum(r => r.CostMicros), g.Sum(r => r.CacheHits), g.Sum(r => r.SavedCostMicros)))
        .ToList();
}
