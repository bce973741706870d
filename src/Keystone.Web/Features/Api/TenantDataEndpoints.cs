using System.Globalization;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Web.Platform.Http;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Api;

/// <summary>
/// <c>GET /api/v1/usage</c>: the tenant's usage for billing through its API key, in a context scoped to the key's
/// tenant. (The calls, feedback and budgets routes that shared this class moved to their features.)
/// </summary>
internal static class TenantDataEndpoints
{
    private const int MaxUsageDays = 400;

    public static async Task<IResult> GetUsageAsync(HttpContext http, KeystoneDbFactory dbFactory, TimeProvider clock)
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
        await using var db = dbFactory.ForTenant(key.TenantId);
        var calls = db.Calls.AsNoTracking().Where(c => c.TenantId == key.TenantId && c.CreatedUtc >= from && c.CreatedUtc < to);
        var ct = http.RequestAborted;
        List<UsageRow> rows = groupBy switch
        {
            "day" => await SumAsync(calls, c => new { c.CreatedUtc.Year, c.CreatedUtc.Month, c.CreatedUtc.Day },
                k => new DateOnly(k.Year, k.Month, k.Day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), ct),
            "feature" => await SumAsync(calls, c => c.Feature, k => k, ct),
            "model" => await SumAsync(calls, c => new { c.Provider, c.Model }, k => k.Provider is null ? "(none)" : $"{k.Provider}/{k.Model}", ct),
            "user" => await SumAsync(calls, c => c.EndUser ?? c.UserId, k => k ?? "(none)", ct),
            // Per key: a platform that issues one key per customer bills each from this (ids as /api/v1/keys lists them).
            "apiKey" => await SumAsync(calls, c => c.ApiKeyId, k => k?.ToString() ?? "(none)", ct),
            _ => throw ApiException.Invalid("groupBy", "groupBy must be day, feature, model, user or apiKey."),
        };
        rows = [.. rows.OrderBy(r => r.Key, StringComparer.Ordinal)];
        return TypedResults.Ok(new UsageReport(from, to, groupBy, rows.Sum(r => r.Calls), rows.Sum(r => r.CostMicros),
            rows.Sum(r => r.SavedCostMicros), rows));
    }

    /// <summary>One usage row per group: calls, tokens, cost, and what the caches answered and saved.</summary>
    private static async Task<List<UsageRow>> SumAsync<TKey>(IQueryable<LlmCall> calls, System.Linq.Expressions.Expression<Func<LlmCall, TKey>> groupBy,
        Func<TKey, string> label, CancellationToken ct)
        => (await calls.GroupBy(groupBy)
                .Select(g => new UsageSum<TKey>(g.Key, g.LongCount(), g.Sum(c => (long)c.InputTokens), g.Sum(c => (long)c.OutputTokens),
                    g.Sum(c => c.CostMicros), g.LongCount(c => c.CacheStatus != CacheStatus.None), g.Sum(c => c.SavedCostMicros)))
                .ToListAsync(ct))
            .Select(g => new UsageRow(label(g.Key), g.Calls, g.InputTokens, g.OutputTokens, g.CostMicros, g.CacheHits, g.SavedCostMicros))
            .ToList();

    private sealed record UsageSum<TKey>(TKey Key, long Calls, long InputTokens, long OutputTokens, long CostMicros, long CacheHits, long SavedCostMicros);

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
