using Keystone.Web.Platform;
using System.Globalization;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Data.Calls;
using Keystone.Data.Feedback;
using Keystone.Gateway;
using Keystone.Gateway.Recording;
using Keystone.Web.Features.Traces;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Api;

/// <summary>
/// The tenant's own data through its API key: a recorded call by trace id, usage for billing, feedback,
/// and budgets. Every query runs in a context scoped to the key's tenant, so another tenant's trace id is
/// simply not found (404, never 403: the API does not confirm that it exists).
/// </summary>
internal static class TenantDataEndpoints
{
    private static readonly TimeSpan FirstFeedbackRecheck = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestFeedbackRecheck = TimeSpan.FromMilliseconds(500);

    public static async Task<IResult> GetCallAsync(HttpContext http, string traceId, KeystoneDbFactory dbFactory)
    {
        var key = ApiKeyAuthenticationHandler.KeyOf(http)!;
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
        var attempts = await db.Traces.AsNoTracking().Where(t => t.CallId == call.Id).Select(t => t.AttemptsJson).FirstOrDefaultAsync(ct);
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
            feedback.Select(ToDto).ToList()));
    }

    /// <summary>
    /// <c>GET /api/v1/calls</c>: this tenant's calls, newest first, filtered and paged with a cursor — for tenants that
    /// pull their calls into their own reporting. Runs the trace search's query in the key's tenant scope.
    /// </summary>
    public static async Task<IResult> ListCallsAsync(HttpContext http, KeystoneDbFactory dbFactory, TimeProvider clock)
    {
        var key = ApiKeyAuthenticationHandler.KeyOf(http)!;
        var query = http.Request.Query;
        var (from, to) = RangeOf(query, clock);
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

    public static async Task<IResult> PostFeedbackAsync(HttpContext http, ApiRequestBody body, KeystoneDbFactory dbFactory, CallRecorder recorder,
        IOptionsMonitor<ApiOptions> options, TimeProvider clock)
    {
        var key = ApiKeyAuthenticationHandler.KeyOf(http)!;
        var ct = http.RequestAborted;
        var (traceId, score, comment, user) = await body.ReadAsync(http.Request, ParseFeedback, ct);
        await using var db = dbFactory.ForTenant(key.TenantId);
        if (!await CallExistsAsync(db, recorder, key.TenantId, traceId, ct)
            && !await WaitForCallAsync(db, recorder, key.TenantId, traceId, options.CurrentValue.FeedbackGracePeriod, clock, ct))
        {
            throw ApiException.NotFound($"No call with trace id {traceId} in this tenant.");
        }

        var row = new CallFeedback
        {
            Id = Guid.CreateVersion7(), TenantId = key.TenantId, TraceId = traceId, Score = score, Comment = comment,
            ApiKeyId = key.KeyId, EndUser = user, CreatedUtc = clock.GetUtcNow().UtcDateTime,
        };
        db.Feedback.Add(row);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/v1/calls/{traceId}", ToDto(row));
    }

    /// <summary>
    /// Whether this tenant has a call with <paramref name="traceId"/>: stored, or answered and still queued in the
    /// recorder (feedback often arrives before the row is written). Feedback is keyed by trace id, not by call
    /// row, so it joins the call whenever the row lands. The pending set is checked first: a call leaves it only
    /// once its row is committed, so one of the two checks sees it.
    /// </summary>
    internal static async Task<bool> CallExistsAsync(KeystoneDbContext db, CallRecorder recorder, Guid tenantId, Guid traceId, CancellationToken ct)
        => recorder.IsPending(tenantId, traceId)
            || await db.Calls.AnyAsync(c => c.TraceId == traceId && c.TenantId == tenantId, ct);

    /// <summary>
    /// Checks <see cref="CallExistsAsync"/> again for up to <paramref name="grace"/>, at 50 ms, then doubling waits up
    /// to 500 ms (the last one cut to end at the grace), and says whether the call turned up.
    /// </summary>
    /// <remarks>
    /// The pending set is only this instance's. With several instances, feedback sent the moment the answer arrived
    /// can reach an instance whose database does not have the row yet: another instance's recorder commits it within
    /// its batch linger, well under a second. Waiting briefly here turns that race into a slower 201 instead of a
    /// 404 the caller cannot act on; only ids that never appear (typos, another tenant's) pay the whole wait. The
    /// context opens a connection per query, so none is held between checks.
    /// </remarks>
    internal static async Task<bool> WaitForCallAsync(KeystoneDbContext db, CallRecorder recorder, Guid tenantId, Guid traceId, TimeSpan grace,
        TimeProvider clock, CancellationToken ct)
    {
        var started = clock.GetTimestamp();
        var wait = FirstFeedbackRecheck;
        while (true)
        {
            var left = grace - clock.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            await Task.Delay(wait < left ? wait : left, clock, ct);
            if (await CallExistsAsync(db, recorder, tenantId, traceId, ct))
            {
                return true;
            }

            wait = wait * 2 < LongestFeedbackRecheck ? wait * 2 : LongestFeedbackRecheck;
        }
    }

    public static async Task<IResult> GetBudgetsAsync(HttpContext http, IBudgetService budgets)
    {
        var key = ApiKeyAuthenticationHandler.KeyOf(http)!;
        return TypedResults.Ok(ToDto(await budgets.GetAsync(key.TenantId, http.RequestAborted)));
    }

    public static async Task<IResult> PutBudgetsAsync(HttpContext http, ApiRequestBody body, IBudgetService budgets, AuditLog audit)
    {
        var key = ApiKeyAuthenticationHandler.KeyOf(http)!;
        var ct = http.RequestAborted;
        var (caps, thresholds, action) = await body.ReadAsync(http.Request, ParseBudgets, ct);
        var result = await budgets.SetAsync(key.TenantId, caps, thresholds, action, ct);
        await audit.WriteAsync(new AuditEntry
        {
            ActorType = "api_key", ActorId = key.KeyId.ToString(), ActorName = $"{key.Name} ({key.Prefix}…)", TenantId = key.TenantId,
            Action = "budgets.set", Target = $"tenant:{key.TenantId}",
            MetadataJson = JsonSerializer.Serialize(new
            {
                caps = caps.Select(c => new { scope = BudgetScopeText(c.Scope), c.Key, period = Lower(c.Period), c.LimitMicros }),
                softThresholdsPercent = thresholds, actionAtLimit = action is null ? null : Lower(action.Value),
            }),
        }, ct);
        return TypedResults.Ok(ToDto(result));
    }

    internal static (Guid TraceId, int Score, string? Comment, string? User) ParseFeedback(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        var traceText = JsonFields.RequiredString(root, "traceId", 64);
        if (!CallIds.TryParseTraceId(traceText, out var traceId))
        {
            throw ApiException.Invalid("traceId", "traceId must be a trace id as returned in X-Keystone-Trace-Id, or the answer's x-request-id.");
        }

        if (!root.TryGetProperty("score", out var s) || s.ValueKind == JsonValueKind.Null)
        {
            throw ApiException.Invalid("score", "score is required: up or down.");
        }

        var score = s.ValueKind switch
        {
            JsonValueKind.String when s.GetString() is "up" => 1,
            JsonValueKind.String when s.GetString() is "down" => -1,
            JsonValueKind.Number when s.TryGetInt32(out var n) && n is 1 or -1 => n,
            _ => throw ApiException.Invalid("score", "score must be up or down (or 1 / -1)."),
        };
        var comment = JsonFields.OptionalString(root, "comment", 2000);
        var user = JsonFields.OptionalString(root, "user", 256);
        return (traceId, score, comment, user);
    }

    internal static (List<BudgetCapInput> Caps, List<int>? Thresholds, BudgetAction? Action) ParseBudgets(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        var caps = new List<BudgetCapInput>();
        if (root.TryGetProperty("caps", out var array) && array.ValueKind != JsonValueKind.Null)
        {
            if (array.ValueKind != JsonValueKind.Array || array.GetArrayLength() > 1000)
            {
                throw ApiException.Invalid("caps", "caps must be an array of up to 1,000 caps.");
            }

            var i = 0;
            foreach (var cap in array.EnumerateArray())
            {
                var path = $"caps[{i}]";
                if (cap.ValueKind != JsonValueKind.Object)
                {
                    throw ApiException.Invalid(path, $"{path} must be an object.");
                }

                var scope = JsonFields.RequiredString(cap, "scope", 16, $"{path}.scope") switch
                {
                    "tenant" => BudgetScope.Tenant,
                    "user" => BudgetScope.User,
                    "feature" => BudgetScope.Feature,
                    "apiKey" => BudgetScope.ApiKey,
                    _ => throw ApiException.Invalid($"{path}.scope", $"{path}.scope must be tenant, user, feature or apiKey."),
                };
                var capKey = JsonFields.OptionalString(cap, "key", 128, $"{path}.key");
                if (scope == BudgetScope.Tenant && capKey is not null)
                {
                    throw ApiException.Invalid($"{path}.key", $"{path}.key must be null for the tenant scope.");
                }

                if (scope != BudgetScope.Tenant && string.IsNullOrWhiteSpace(capKey))
                {
                    throw ApiException.Invalid($"{path}.key", $"{path}.key is required for the {BudgetScopeText(scope)} scope.");
                }

                if (scope == BudgetScope.ApiKey && !Guid.TryParse(capKey, out _))
                {
                    throw ApiException.Invalid($"{path}.key", $"{path}.key must be an API key id for the apiKey scope.");
                }

                var period = JsonFields.RequiredString(cap, "period", 16, $"{path}.period") switch
                {
                    "day" => BudgetPeriod.Day,
                    "month" => BudgetPeriod.Month,
                    _ => throw ApiException.Invalid($"{path}.period", $"{path}.period must be day or month."),
                };
                var limit = JsonFields.OptionalLong(cap, "limitMicros", 1, long.MaxValue / 4, $"{path}.limitMicros")
                    ?? throw ApiException.Invalid($"{path}.limitMicros", $"{path}.limitMicros is required.");
                caps.Add(new BudgetCapInput(scope, capKey, period, limit));
                i++;
            }
        }

        List<int>? thresholds = null;
        if (root.TryGetProperty("softThresholdsPercent", out var t) && t.ValueKind != JsonValueKind.Null)
        {
            if (t.ValueKind != JsonValueKind.Array || t.GetArrayLength() > 10
                || t.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out var v) || v is < 1 or > 100))
            {
                throw ApiException.Invalid("softThresholdsPercent", "softThresholdsPercent must be an array of up to 10 integers from 1 to 100.");
            }

            thresholds = [.. t.EnumerateArray().Select(x => x.GetInt32()).Distinct().Order()];
        }

        BudgetAction? action = JsonFields.OptionalString(root, "actionAtLimit", 16) switch
        {
            null => null,
            "block" => BudgetAction.Block,
            "degrade" => BudgetAction.Degrade,
            _ => throw ApiException.Invalid("actionAtLimit", "actionAtLimit must be block or degrade."),
        };
        return (caps, thresholds, action);
    }

    private static BudgetDto ToDto(TenantBudget budget) => new(
        budget.Caps.Select(c => new BudgetCapDto(BudgetScopeText(c.Scope), c.Key, Lower(c.Period), c.LimitMicros, c.SpentMicros, c.ReservedMicros, c.ResetsAtUtc)).ToList(),
        budget.SoftThresholdsPercent, Lower(budget.ActionAtLimit));

    private static FeedbackDto ToDto(CallFeedback f) => new(f.Id, f.TraceId, f.Score > 0 ? "up" : "down", f.Comment, f.EndUser, f.CreatedUtc);

    private static string BudgetScopeText(BudgetScope scope) => scope == BudgetScope.ApiKey ? "apiKey" : Lower(scope);

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static string ToSnake(BilledTo value) => value switch
    {
        BilledTo.TenantKey => "tenant_key",
        _ => Lower(value),
    };

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
