using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Feedback;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// <c>POST /api/v1/feedback</c>: thumbs up or down (and a comment) for a trace of the key's tenant, stored by trace id
/// so it joins the call whenever the call's row lands.
/// </summary>
internal static class FeedbackEndpoints
{
    private static readonly TimeSpan FirstFeedbackRecheck = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LongestFeedbackRecheck = TimeSpan.FromMilliseconds(500);

    public static async Task<IResult> PostAsync(HttpContext http, ApiRequestBody body, KeystoneDbFactory dbFactory, IRecordedCalls recorder,
        IOptionsMonitor<ApiOptions> options, TimeProvider clock)
    {
        var key = ApiKeyContext.KeyOf(http)!;
        var ct = http.RequestAborted;
        var (traceId, score, comment, user) = await body.ReadAsync(http.Request, Parse, ct);
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
    internal static async Task<bool> CallExistsAsync(KeystoneDbContext db, IRecordedCalls recorder, Guid tenantId, Guid traceId, CancellationToken ct)
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
    internal static async Task<bool> WaitForCallAsync(KeystoneDbContext db, IRecordedCalls recorder, Guid tenantId, Guid traceId, TimeSpan grace,
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

    internal static (Guid TraceId, int Score, string? Comment, string? User) Parse(JsonElement root)
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

    internal static FeedbackDto ToDto(CallFeedback f) => new(f.Id, f.TraceId, f.Score > 0 ? "up" : "down", f.Comment, f.EndUser, f.CreatedUtc);
}
