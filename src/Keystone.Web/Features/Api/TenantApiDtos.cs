using System.Text.Json;

namespace Keystone.Web.Features.Api;

// /api/v1 shapes: camelCase (the app's default JSON naming), money in micro-USD, times in UTC.

/// <summary>Tokens of a call by type.</summary>
public sealed record CallTokens(int Input, int Output, int CachedInput, int CacheWrite, int CacheWrite1h, int Reasoning);

/// <summary>
/// A recorded call (<c>GET /api/v1/calls/{traceId}</c>). A cache hit names the trace whose answer it served
/// (<see cref="CacheSourceTraceId"/>, null once that call is gone or for entries stored before it was kept) and, for
/// a semantic hit, how close the question was (<see cref="CacheSimilarity"/>, cosine 0–1).
/// </summary>
public sealed record CallDto(
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
public sealed record FeedbackDto(Guid Id, Guid TraceId, string Score, string? Comment, string? EndUser, DateTime CreatedUtc);

/// <summary>The documented body of <c>POST /api/v1/feedback</c>.</summary>
/// <param name="TraceId">The <c>X-Keystone-Trace-Id</c> of the answer.</param>
/// <param name="Score"><c>up</c> or <c>down</c>.</param>
/// <param name="Comment">Optional, up to 2,000 characters.</param>
/// <param name="User">Optional end user who gave it.</param>
public sealed record FeedbackRequestDoc(Guid TraceId, string Score, string? Comment, string? User);

/// <summary>One cap of <c>/api/v1/budgets</c>.</summary>
public sealed record BudgetCapDto(string Scope, string? Key, string Period, long LimitMicros, long? SpentMicros, long? ReservedMicros, DateTime? ResetsAtUtc);

/// <summary><c>GET</c> / <c>PUT /api/v1/budgets</c> (on <c>PUT</c>, the counters are ignored).</summary>
public sealed record BudgetDto(IReadOnlyList<BudgetCapDto> Caps, IReadOnlyList<int> SoftThresholdsPercent, string ActionAtLimit);

/// <summary>A key's spending cap as <c>/api/v1/keys</c> shows it.</summary>
public sealed record ApiKeyCapDto(string Period, long LimitMicros, long SpentMicros);

/// <summary>One key of <c>/api/v1/keys</c> (never its secret; the prefix tells keys apart).</summary>
public sealed record ApiKeyDto(
    Guid Id,
    string Name,
    string Prefix,
    IReadOnlyList<string> Scopes,
    int? RequestsPerMinute,
    IReadOnlyList<ApiKeyCapDto> Caps,
    IReadOnlyList<string>? Models,
    DateTime CreatedUtc,
    DateTime? LastUsedUtc,
    DateTime? ExpiresUtc,
    DateTime? RevokedUtc,
    DateTime? RotatedUtc,
    string? PreviousPrefix,
    DateTime? PreviousExpiresUtc,
    ApiKeyMonthDto? ThisMonth = null);

/// <summary>A key's calls and cost since the start of the current UTC month (in <c>GET /api/v1/keys</c>).</summary>
public sealed record ApiKeyMonthDto(long Calls, long CostMicros);

/// <summary><c>GET /api/v1/keys</c>.</summary>
public sealed record ApiKeyListDto(IReadOnlyList<ApiKeyDto> Keys);

/// <summary>A key just created or rotated: <see cref="Secret"/> is in this answer once and nowhere else, ever.</summary>
public sealed record CreatedApiKeyDto(ApiKeyDto Key, string Secret);

/// <summary>The documented body of <c>POST /api/v1/keys</c>.</summary>
/// <param name="Name">1–128 characters.</param>
/// <param name="Scopes">Among <c>chat</c>, <c>embeddings</c>, <c>usage:read</c>, <c>admin</c>.</param>
/// <param name="RequestsPerMinute">Optional, 1–1,000,000 (default: the plan's).</param>
/// <param name="CapMicros">Optional spending cap for the key, micro-USD.</param>
/// <param name="CapPeriod"><c>day</c> or <c>month</c> (default).</param>
/// <param name="ExpiresUtc">Optional ISO 8601 instant, in the future, at most 5 years ahead.</param>
/// <param name="Models">Optional allow-list among the tenant's models as <c>/v1/models</c> lists them (null: all).</param>
public sealed record NewApiKeyDoc(string Name, IReadOnlyList<string> Scopes, int? RequestsPerMinute, long? CapMicros, string? CapPeriod, DateTime? ExpiresUtc,
    IReadOnlyList<string>? Models);

/// <summary>The documented body of <c>PATCH /api/v1/keys/{id}</c>: a field present changes (null clears it), one absent stays.</summary>
public sealed record UpdateApiKeyDoc(DateTime? ExpiresUtc, IReadOnlyList<string>? Models);

/// <summary>The documented (optional) body of <c>POST /api/v1/keys/{id}/rotate</c>.</summary>
/// <param name="OverlapSeconds">How long the old secret keeps working: 0 (stops now) to 30 days; default 86,400.</param>
public sealed record RotateApiKeyDoc(long? OverlapSeconds);

/// <summary>One call in <c>GET /api/v1/calls</c>: what a tenant's own reporting needs per call (the detail route has attempts and feedback).</summary>
public sealed record CallSummaryDto(
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
public sealed record CallPage(IReadOnlyList<CallSummaryDto> Calls, string? NextCursor);

