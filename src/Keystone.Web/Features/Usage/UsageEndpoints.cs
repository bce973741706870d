using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// <c>GET /api/v1/usage</c>: a tenant's usage for billing through its API key, answered by <see cref="UsageReader"/>,
/// the service the usage page reads, so the two agree to the micro-dollar (docs/decisions/0024-one-usage-query-service.md).
/// </summary>
internal static class UsageEndpoints
{
    private const int MaxUsageDays = 400;

    private static readonly Dictionary<string, UsageGrouping> Groupings = new(StringComparer.Ordinal)
    {
        ["day"] = UsageGrouping.Day,
        ["feature"] = UsageGrouping.Feature,
        ["model"] = UsageGrouping.Model,
        ["user"] = UsageGrouping.User,
        ["apiKey"] = UsageGrouping.ApiKey,
    };

    internal static async Task<IResult> GetUsageAsync(HttpContext http, UsageReader usage, TimeProvider clock)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var query = http.Request.Query;
        var (from, to) = ApiQuery.RangeOf(query, clock);
        if ((to - from).TotalDays > MaxUsageDays)
        {
            throw ApiException.Invalid("from", $"The range may span at most {MaxUsageDays} days.");
        }

        var groupBy = query["groupBy"].ToString();
        groupBy = groupBy.Length == 0 ? "day" : groupBy.ToLowerInvariant();
        groupBy = groupBy == "apikey" ? "apiKey" : groupBy;
        if (!Groupings.TryGetValue(groupBy, out var grouping))
        {
            throw ApiException.Invalid("groupBy", "groupBy must be day, feature, model, user or apiKey.");
        }

        var read = await usage.ReadAsync(new UsageScope(key.TenantId, from, to), [grouping], http.RequestAborted);
        var rows = read[grouping].OrderBy(r => r.Key, StringComparer.Ordinal)
            .Select(r => new UsageRow(r.Key, r.Calls, r.InputTokens, r.OutputTokens, r.CostMicros, r.CacheHits, r.SavedCostMicros))
            .ToList();
        return TypedResults.Ok(new UsageReport(from, to, groupBy, rows.Sum(r => r.Calls), rows.Sum(r => r.CostMicros),
            rows.Sum(r => r.SavedCostMicros), rows));
    }
}
