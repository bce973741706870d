using System.Diagnostics.CodeAnalysis;
using Keystone.Data.Calls;

namespace Keystone.Web.Features.Traces;

/// <summary>One call in the search results: cost, tokens, latency and status at a glance (<c>UserName</c>: the console
/// member's display name, when the call was made by one).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "The type of a [Parameter] (TraceStatusChips.Row): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TraceRow(
    Guid CallId,
    Guid TraceId,
    Guid TenantId,
    string? TenantName,
    DateTime CreatedUtc,
    string? UserId,
    string? EndUser,
    string Feature,
    string Alias,
    string? Provider,
    string? Model,
    string? PromptName,
    CallStatus Status,
    string? ErrorCode,
    bool FellBack,
    CacheStatus Cache,
    int InputTokens,
    int OutputTokens,
    long CostMicros,
    CostStatus CostStatus,
    BilledTo BilledTo,
    int LatencyMs,
    Guid? ReplayOfCallId,
    string? UserName = null)
{
    /// <summary>
    /// Who made the call, in words a person reads: the end user the product sent, else the console member's name
    /// (playground, replays), else the console user id when that user no longer exists, else an em dash.
    /// </summary>
    public string Who => EndUser ?? UserName ?? UserId ?? "—";

    /// <summary>
    /// SQLite: the call row's rowid, the search's keyset tie-breaker (<see cref="Keystone.Data.Calls.CallRowKey"/>, issue 26);
    /// 0 on PostgreSQL (the call id breaks ties there) and on rows not read by the search.
    /// </summary>
    public long RowKey { get; init; }

    /// <summary>The provider and model that answered (<c>sim-eu/sim-smart</c>), or null when none did.</summary>
    public string? ResolvedModel => Provider is { Length: > 0 } p && Model is { Length: > 0 } m ? $"{p}/{m}" : null;

    /// <summary>
    /// The line under the alias: the model that answered, or why none did (a cache hit, or the call's error code
    /// for a call refused before any provider, such as <c>budget_exceeded</c>) — never a dangling "/".
    /// </summary>
    public string ModelLine => ResolvedModel
        ?? (Cache != CacheStatus.None ? "from cache" : ErrorCode is { Length: > 0 } e ? $"no model: {e}" : "no model");
}

/// <summary>One page of results and the cursor of the next (null at the end).</summary>
internal sealed record TracePage(IReadOnlyList<TraceRow> Rows, string? NextCursor);
