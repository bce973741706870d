using System.Diagnostics.CodeAnalysis;
using Keystone.Data.Calls;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// Everything the detail page shows about one call (<c>PromptVersionNumber</c>: the number of the call's prompt
/// version, if any; <c>CacheSourceQuestion</c>: for a semantic-cache hit, the last user message of the call whose
/// answer was served, as its redacted trace holds it; <c>UserName</c>: the console member's display name when a member
/// made the call).
/// </summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (TraceReplayPanel.Detail): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TraceDetail(
    LlmCall Call,
    string? TenantName,
    TracePayload Payload,
    bool HasTrace,
    bool HasRaw,
    int RedactionCount,
    DateTime? RawPurgedUtc,
    IReadOnlyList<TraceRow> Neighbours,
    IReadOnlyList<TraceRow> Replays,
    IReadOnlyList<TraceFeedbackEntry> Feedback,
    int? PromptVersionNumber = null,
    string? CacheSourceQuestion = null,
    string? UserName = null);

/// <summary>
/// One thumbs up / down on the trace: from the tenant's product (<c>POST /api/v1/feedback</c>, maybe naming its end
/// user) or from a console user in the playground (<paramref name="UserName"/>).
/// </summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of TraceDetail, the type of a [Parameter] (TraceReplayPanel.Detail): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TraceFeedbackEntry(int Score, string? Comment, string? EndUser, string? UserName, bool FromApiKey, DateTime CreatedUtc)
{
    public bool IsUp => Score > 0;

    /// <summary>Who gave it, in words.</summary>
    public string Source => UserName is not null ? $"playground · {UserName}"
        : EndUser is not null ? $"end user {EndUser} · API"
        : FromApiKey ? "API" : "unknown source";
}

/// <summary>The unredacted payload, shown to platform admins with a stated reason.</summary>
internal sealed record RawTrace(string? RequestJson, string? ResponseJson);
