using System.Text.Json;

namespace Keystone.Web.Features.Traces;

// /api/v1/calls and /api/v1/feedback shapes: camelCase (the app's default JSON naming), money in micro-USD, times in UTC.

/// <summary>Tokens of a call by type.</summary>
internal sealed record CallTokens(int Input, int Output, int CachedInput, int CacheWrite, int CacheWrite1h, int Reasoning);

/// <summary>
/// A recorded call (<c>GET /api/v1/calls/{traceId}</c>). A cache hit names the trace whose answer it served
/// (<see cref="CacheSourceTraceId"/>, null once that call is gone or for entries stored before it was kept) and, for
/// a semantic hit, how close the question was (<see cref="CacheSimilarity"/>, cosine 0–1).
/// </summary>
internal sealed record CallDto(
    Guid TraceId,
    Guid CallId,
    string Status,
    string? ErrorCode,
    DateTime CreatedUtc,
    string Feature,
    string? EndUser,
    Guid? ApiKeyId,
    string? PromptName,
    Guid? PromptVersionId,
    string Alias,
    string? Provider,
    string? Model,
    bool Streamed,
    CallTokens Tokens,
    long CostMicros,
    string CostStatus,
    string BilledTo,
    string Cache,
    long SavedCostMicros,
    Guid? CacheSourceTraceId,
    double? CacheSimilarity,
    int Attempts,
    bool FellBack,
    JsonElement? AttemptDetails,
    int LatencyMs,
    int? TtftMs,
    int CallsInTrace,
    IReadOnlyList<FeedbackDto> Feedback);

/// <summary>Feedback stored for a trace.</summary>
internal sealed record FeedbackDto(Guid Id, Guid TraceId, string Score, string? Comment, string? EndUser, DateTime CreatedUtc);

/// <summary>The documented body of <c>POST /api/v1/feedback</c>.</summary>
/// <param name="TraceId">The <c>X-Keystone-Trace-Id</c> of the answer.</param>
/// <param name="Score"><c>up</c> or <c>down</c>.</param>
/// <param name="Comment">Optional, up to 2,000 characters.</param>
/// <param name="User">Optional end user who gave it.</param>
internal sealed record FeedbackRequestDoc(Guid TraceId, string Score, string? Comment, string? User);

/// <summary>One call in <c>GET /api/v1/calls</c>: what a tenant's own reporting needs per call (the detail route has attempts and feedback).</summary>
internal sealed record CallSummaryDto(
    Guid TraceId,
    Guid CallId,
    DateTime CreatedUtc,
    string Status,
    string? ErrorCode,
    string Feature,
    string? EndUser,
    string Alias,
    string? Provider,
    string? Model,
    string? PromptName,
    int InputTokens,
    int OutputTokens,
    long CostMicros,
    string CostStatus,
    string Cache,
    bool FellBack,
    int LatencyMs);

/// <summary>A page of calls, newest first; <c>NextCursor</c> fetches the next page (null at the end).</summary>
internal sealed record CallPage(IReadOnlyList<CallSummaryDto> Calls, string? NextCursor);
