using System.Globalization;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// <c>/api/v1/calls</c>: the tenant's recorded calls through its API key, a page at a time or one by trace id. Every
/// query runs in a context scoped to the key's tenant, so another tenant's trace id is simply not found (404, never
/// 403: the API does not confirm that it exists).
/// </summary>
internal static class CallEndpoints
{
    public static async Task<IResult> GetAsync(HttpContext http, string traceId, KeystoneDbFactory dbFactory)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        if (!CallIds.TryParseTraceId(traceId, out var id))
        {
            throw ApiException.Invalid("traceId", "traceId must be a trace id as returned in X-Keystone-Trace-Id, or the answer's x-request-id.");
        }

        await using var db = dbFactory.ForTenant(key.TenantId);
        var calls = await db.Calls.AsNoTracking().Where(c => c.TraceId == id && c.TenantId == key.TenantId)
            .OrderBy(c => c.CreatedUtc).ToListAsync(ct);
        if (calls.Count == 0)
        {
            throw ApiException.NotFound($"No call with trace id {id} in this tenant.");
        }

        var call = calls[0];
        var attempts = (await TracePayloads.ReadOneAsync(db, call.Id, raw: false, ct))?.AttemptsJson;
        var feedback = await db.Feedback.AsNoTracking().Where(f => f.TraceId == id && f.TenantId == key.TenantId)
            .OrderBy(f => f.CreatedUtc).ToListAsync(ct);
        var cacheSource = call.CacheSourceCallId is { } source
            ? await db.Calls.AsNoTracking().Where(c => c.Id == source && c.TenantId == key.TenantId).Select(c => (Guid?)c.TraceId).FirstOrDefaultAsync(ct)
            : null;
        return TypedResults.Ok(new CallDto(
            call.TraceId, call.Id, Lower(call.Status), call.ErrorCode, call.CreatedUtc, call.Feature, call.EndUser, call.ApiKeyId,
            call.PromptName, call.PromptVersionId, call.Alias, call.Provider, call.Model, call.Streamed,
            new CallTokens(call.InputTokens, call.OutputTokens, call.CachedInputTokens, call.CacheWriteTokens, call.CacheWrite1hTokens, call.ReasoningTokens),
            call.CostMicros, Lower(call.CostStatus), ToSnake(call.BilledTo), Lower(call.CacheStatus), call.SavedCostMicros,
            cacheSource, call.CacheSimilarity, call.Attempts, call.FellBack, TracePayload.TryParse(attempts), call.LatencyMs, call.TtftMs, calls.Count,
            feedback.Select(FeedbackEndpoints.ToDto).ToList()));
    }

    /// <summary>
    /// <c>GET /api/v1/calls</c>: this tenant's calls, newest first, filtered and paged with a cursor — for tenants that
    /// pull their calls into their own reporting. Runs the trace search's query in the key's tenant scope.
    /// </summary>
    public static async Task<IResult> ListAsync(HttpContext http, KeystoneDbFactory dbFactory, TimeProvider clock)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var query = http.Request.Query;
        var (from, to) = ApiQuery.RangeOf(query, clock);
        var limit = 50;
        if (query["limit"].ToString() is { Length: > 0 } limitText
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > TraceQueries.MaxPageSize))
        {
            throw ApiException.Invalid("limit", $"limit must be a whole number from 1 to {TraceQueries.MaxPageSize}.");
        }

        TraceStatusFilter? status = null;
        if (query["status"].ToString() is { Length: > 0 } statusText)
        {
            status = Enum.TryParse<TraceStatusFilter>(statusText, ignoreCase: true, out var s) && Enum.IsDefined(s) && !char.IsDigit(statusText[0])
                ? s
                : throw ApiException.Invalid("status", $"status must be one of: {string.Join(", ", Enum.GetNames<TraceStatusFilter>().Select(n => n.ToLowerInvariant()))}.");
        }

        TraceCursor? after = null;
        if (query["cursor"].ToString() is { Length: > 0 } cursorText)
        {
            after = TraceCursor.Parse(cursorText, TraceSort.Time) ?? throw ApiException.Invalid("cursor", "cursor must be a nextCursor value from a previous page.");
        }

        var filter = new TraceFilter
        {
            FromUtc = from,
            ToUtc = to,
            Feature = Optional(query["feature"], "feature"),
            User = Optional(query["user"], "user"),
            Model = Optional(query["model"], "model"),
            Status = status,
        };
        await using var db = dbFactory.ForTenant(key.TenantId);
        var rows = await TraceQueries.PageQuery(db, filter, after, limit + 1).ToListAsync(http.RequestAborted);
        string? next = null;
        if (rows.Count > limit)
        {
            rows.RemoveAt(rows.Count - 1);
            next = TraceCursor.After(rows[^1], TraceSort.Time);
        }

        return TypedResults.Ok(new CallPage(rows.Select(r => new CallSummaryDto(
            r.TraceId, r.CallId, r.CreatedUtc, Lower(r.Status), r.ErrorCode, r.Feature, r.EndUser, r.Alias, r.Provider, r.Model, r.PromptName,
            r.InputTokens, r.OutputTokens, r.CostMicros, Lower(r.CostStatus), Lower(r.Cache), r.FellBack, r.LatencyMs)).ToList(), next));

        static string? Optional(Microsoft.Extensions.Primitives.StringValues value, string name)
        {
            var text = value.ToString().Trim();
            return text.Length switch
            {
                0 => null,
                > 256 => throw ApiException.Invalid(name, $"{name} is longer than 256 characters."),
                _ => text,
            };
        }
    }

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static string ToSnake(BilledTo value) => value switch
    {
        BilledTo.TenantKey => "tenant_key",
        _ => Lower(value),
    };
}
