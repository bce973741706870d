namespace Keystone.Web.Features.Usage;

// /api/v1 shapes: camelCase (the app's default JSON naming), money in micro-USD, times in UTC.

/// <summary>
/// One row of <c>GET /api/v1/usage</c>: calls, tokens and cost, and of those calls how many the exact or semantic
/// cache answered (<see cref="CacheHits"/>) and what they would have cost (<see cref="SavedCostMicros"/>).
/// </summary>
internal sealed record UsageRow(string Key, long Calls, long InputTokens, long OutputTokens, long CostMicros, long CacheHits, long SavedCostMicros);

/// <summary><c>GET /api/v1/usage</c>.</summary>
internal sealed record UsageReport(DateTime FromUtc, DateTime ToUtc, string GroupBy, long TotalCalls, long TotalCostMicros,
    long TotalSavedCostMicros, IReadOnlyList<UsageRow> Rows);
