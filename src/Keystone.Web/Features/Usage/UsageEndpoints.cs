using System.Globalization;
using Keystone.Web.Features.Api;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// <c>GET /api/v1/usage</c>: a tenant's usage for billing through its API key, answered by <see cref="UsageReader"/>,
/// the service the usage page reads, so the two agree to the micro-dollar (docs/decisions/0024-one-usage-query-service.md).
/// </summary>
public static class UsageEndpoints
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

    public static IEndpointRouteBuilder MapUsageEndpoints(this IEndpointRouteBuilder app)
    {
        // REVIEW: the error responses are declared by hand until the shared endpoint helpers leave Features/Api (issue 19).
        app.MapGroup("/api/v1").WithTags("Keystone").DisableAntiforgery()
            .MapGet("/usage", GetUsageAsync)
            .RequireAuthorization(ApiPolicies.UsageRead)
            .WithName("GetUsage")
            .WithSummary("Usage and cost of this tenant, grouped by day, feature, model, user or API key")
            .WithDescription("Query: from, to (ISO 8601, UTC; default the last 30 days, at most 400 days), groupBy = day | feature | model | user | apiKey (default day; apiKey rows are keyed by key id, calls made without a key as (none)). Each row carries calls, tokens, cost, cacheHits and savedCostMicros.")
            .Produces<UsageReport>()
            .Produces<ApiErrorBody>(400)
            .Produces<ApiErrorBody>(401)
            .Produces<ApiErrorBody>(403);
        return app;
    }

    internal static async Task<IResult> GetUsageAsync(HttpContext http, UsageReader usage, TimeProvider clock)
    {
        var key = ApiKeyAuthenticationHandler.KeyOf(http)!;
        var query = http.Request.Query;
        var (from, to) = RangeOf(query, clock);
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

    // REVIEW: the same window rule as GET /api/v1/calls (TenantDataEndpoints); one copy once the shared HTTP helpers move to Platform/.
    /// <summary>The <c>from</c> / <c>to</c> query window: up to now and the 30 days before it unless given; from before to.</summary>
    private static (DateTime From, DateTime To) RangeOf(IQueryCollection query, TimeProvider clock)
    {
        var to = ParseTime(query["to"], "to") ?? clock.GetUtcNow().UtcDateTime;
        var from = ParseTime(query["from"], "from") ?? to.AddDays(-30);
        return from < to ? (from, to) : throw ApiException.Invalid("from", "from must be before to.");
    }

    private static DateTime? ParseTime(Microsoft.Extensions.Primitives.StringValues value, string name)
    {
        var text = value.ToString();
        if (text.Length == 0)
        {
            return null;
        }

        if (!DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time))
        {
            throw ApiException.Invalid(name, $"{name} must be an ISO 8601 date or time (UTC), e.g. 2026-11-01 or 2026-11-01T00:00:00Z.");
        }

        return DateTime.SpecifyKind(time, DateTimeKind.Utc);
    }
}
