using Keystone.Gateway;
using Keystone.Web.Features.Margin;

namespace Keystone.Web.Features.Home;

/// <summary>The founder's month so far: revenue, inference cost, margin and the thinnest paying customer.</summary>
internal sealed record FounderHome(DateTime FromUtc, long RevenueMicros, long CostMicros, int PayingTenants, MarginRow? Thinnest)
{
    public long MarginMicros => RevenueMicros - CostMicros;

    public double? MarginRatio => RevenueMicros == 0 ? null : (double)MarginMicros / RevenueMicros;
}

/// <summary>A failed call as support meets it on the home page.</summary>
internal sealed record FailedCall(Guid CallId, DateTime CreatedUtc, string? TenantName, string Feature, string Alias, string? ErrorCode);

/// <summary>Support's day: failed calls since midnight UTC and the newest failures (any day), each to open and replay.</summary>
internal sealed record SupportHome(DateTime TodayUtc, int FailedToday, IReadOnlyList<FailedCall> Newest);

/// <summary>One API key on the tenant admin's home.</summary>
internal sealed record HomeKey(string Name, string Prefix, DateTime? LastUsedUtc, DateTime? ExpiresUtc);

/// <summary>
/// The tenant admin's view: spend this month, every cap against its limit, refusals today, the live keys
/// (<c>MemberNames</c>: the name of each member a per-user cap names, by console user id).
/// </summary>
internal sealed record AdminHome(long SpentThisMonthMicros, IReadOnlyList<BudgetCapStatus> Caps, int RefusedToday, IReadOnlyList<HomeKey> Keys,
    IReadOnlyDictionary<string, string> MemberNames);

/// <summary>A member's own month: calls, cost and the features they used.</summary>
internal sealed record MemberHome(long Calls, long CostMicros, IReadOnlyList<(string Feature, long Calls, long CostMicros)> ByFeature);

/// <summary>A prompt with versions newer than the one active for everyone (drafts waiting for activation).</summary>
internal sealed record PromptDraft(string Prompt, int Newest, int? ActiveGlobal);

/// <summary>One activation or rollback, newest first.</summary>
internal sealed record RecentActivation(string Prompt, int? Version, string? TenantName, string? By, bool IsRollback, DateTime ActivatedUtc);

/// <summary>The prompt editor's desk: drafts to look at and what went live lately.</summary>
internal sealed record EditorHome(IReadOnlyList<PromptDraft> Drafts, IReadOnlyList<RecentActivation> Activations);
