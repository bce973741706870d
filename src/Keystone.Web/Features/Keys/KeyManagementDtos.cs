namespace Keystone.Web.Features.Keys;

// /api/v1/keys shapes: camelCase (the app's default JSON naming), money in micro-USD, times in UTC.

/// <summary>A key's spending cap as <c>/api/v1/keys</c> shows it.</summary>
internal sealed record ApiKeyCapDto(string Period, long LimitMicros, long SpentMicros);

/// <summary>One key of <c>/api/v1/keys</c> (never its secret; the prefix tells keys apart).</summary>
internal sealed record ApiKeyDto(
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
internal sealed record ApiKeyMonthDto(long Calls, long CostMicros);

/// <summary><c>GET /api/v1/keys</c>.</summary>
internal sealed record ApiKeyListDto(IReadOnlyList<ApiKeyDto> Keys);

/// <summary>A key just created or rotated: <see cref="Secret"/> is in this answer once and nowhere else, ever.</summary>
internal sealed record CreatedApiKeyDto(ApiKeyDto Key, string Secret);

/// <summary>The documented body of <c>POST /api/v1/keys</c>.</summary>
/// <param name="Name">1–128 characters.</param>
/// <param name="Scopes">Among <c>chat</c>, <c>embeddings</c>, <c>usage:read</c>, <c>admin</c>.</param>
/// <param name="RequestsPerMinute">Optional, 1–1,000,000 (default: the plan's).</param>
/// <param name="CapMicros">Optional spending cap for the key, micro-USD.</param>
/// <param name="CapPeriod"><c>day</c> or <c>month</c> (default).</param>
/// <param name="ExpiresUtc">Optional ISO 8601 instant, in the future, at most 5 years ahead.</param>
/// <param name="Models">Optional allow-list among the tenant's models as <c>/v1/models</c> lists them (null: all).</param>
internal sealed record NewApiKeyDoc(string Name, IReadOnlyList<string> Scopes, int? RequestsPerMinute, long? CapMicros, string? CapPeriod, DateTime? ExpiresUtc,
    IReadOnlyList<string>? Models);

/// <summary>The documented body of <c>PATCH /api/v1/keys/{id}</c>: a field present changes (null clears it), one absent stays.</summary>
internal sealed record UpdateApiKeyDoc(DateTime? ExpiresUtc, IReadOnlyList<string>? Models);

/// <summary>The documented (optional) body of <c>POST /api/v1/keys/{id}/rotate</c>.</summary>
/// <param name="OverlapSeconds">How long the old secret keeps working: 0 (stops now) to 30 days; default 86,400.</param>
internal sealed record RotateApiKeyDoc(long? OverlapSeconds);
