using System.Diagnostics.CodeAnalysis;
using Keystone.Data.Calls;

namespace Keystone.Web.Features.Traces;

/// <summary>One call in the search results: cost, tokens, latency and status at a glance.</summary>
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
    Guid? ReplayOfCallId);

/// <summary>One page of results and the cursor of the next (null at the end).</summary>
internal sealed record TracePage(IReadOnlyList<TraceRow> Rows, string? NextCursor);
