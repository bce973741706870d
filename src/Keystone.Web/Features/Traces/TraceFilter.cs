using Keystone.Web.Platform;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Microsoft.AspNetCore.WebUtilities;

namespace Keystone.Web.Features.Traces;

/// <summary>The statuses a search can ask for; <c>fallback</c> and <c>cached</c> cut across the call status.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "A theory parameter of TraceQueriesTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public enum TraceStatusFilter
{
    Ok,
    Error,
    Fallback,
    Cancelled,
    Incomplete,
    Cached,
    Rejected,
}

/// <summary>What results are ordered by (always newest / most expensive / slowest first).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "A theory parameter of TraceQueriesTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public enum TraceSort
{
    Time,
    Cost,
    Latency,
}

/// <summary>
/// A trace search. The tenant is not part of it: it comes from the caller's scope (the app bar's tenant
/// switch for platform roles). Round-trips through the page's query string so a link can be pasted into a ticket.
/// </summary>
internal sealed record TraceFilter
{
    /// <summary>Console user id or the tenant's end user.</summary>
    public string? User { get; init; }

    public string? Feature { get; init; }

    /// <summary>Matches the alias asked for, the model or the provider that answered.</summary>
    public string? Model { get; init; }

    public TraceStatusFilter? Status { get; init; }

    public string? PromptName { get; init; }

    public Guid? PromptVersionId { get; init; }

    public long? MinCostMicros { get; init; }

    public long? MaxCostMicros { get; init; }

    public int? MinLatencyMs { get; init; }

    public int? MaxLatencyMs { get; init; }

    public DateTime? FromUtc { get; init; }

    /// <summary>Exclusive upper bound.</summary>
    public DateTime? ToUtc { get; init; }

    /// <summary>A trace id or a call id.</summary>
    public Guid? TraceId { get; init; }

    /// <summary>Words that must all occur in the (redacted) prompts or answer.</summary>
    public string? Text { get; init; }

    public TraceSort Sort { get; init; } = TraceSort.Time;

    public static TraceFilter Empty { get; } = new();

    /// <summary>The filter as a query string (without <c>?</c>); only set fields appear.</summary>
    public string ToQueryString()
    {
        var inv = CultureInfo.InvariantCulture;
        var pairs = new List<KeyValuePair<string, string?>>();
        void Add(string key, string? value)
        {
            if (!string.IsNullOrWhiteSpace(value))
            {
                pairs.Add(new(key, value.Trim()));
            }
        }

        Add("q", Text);
        Add("user", User);
        Add("feature", Feature);
        Add("model", Model);
        Add("status", Status?.ToString().ToLowerInvariant());
        Add("prompt", PromptName);
        Add("promptVersion", PromptVersionId?.ToString());
        Add("minCost", MinCostMicros?.ToString(inv));
        Add("maxCost", MaxCostMicros?.ToString(inv));
        Add("minMs", MinLatencyMs?.ToString(inv));
        Add("maxMs", MaxLatencyMs?.ToString(inv));
        Add("from", FromUtc?.ToString("yyyy-MM-ddTHH:mm:ssZ", inv));
        Add("to", ToUtc?.ToString("yyyy-MM-ddTHH:mm:ssZ", inv));
        Add("trace", TraceId?.ToString());
        Add("sort", Sort == TraceSort.Time ? null : Sort.ToString().ToLowerInvariant());
        return QueryString.Create(pairs).ToUriComponent().TrimStart('?');
    }

    /// <summary>Reads a filter from a query string; values that do not parse are ignored, never an error.</summary>
    public static TraceFilter Parse(string? queryString)
    {
        var q = QueryHelpers.ParseQuery(queryString);
        string? S(string key) => q.TryGetValue(key, out var v) && !string.IsNullOrWhiteSpace(v.ToString()) ? v.ToString().Trim() : null;
        long? L(string key) => long.TryParse(S(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v : null;
        int? I(string key) => int.TryParse(S(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v : null;
        Guid? G(string key) => Guid.TryParse(S(key), out var v) ? v : null;
        DateTime? D(string key) => DateTime.TryParse(S(key), CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var v)
            && DateTime.SpecifyKind(v, DateTimeKind.Utc) is var utc && ReportingDates.Contains(utc) ? utc : null;

        return new TraceFilter
        {
            Text = S("q"),
            User = S("user"),
            Feature = S("feature"),
            Model = S("model"),
            Status = Enum.TryParse<TraceStatusFilter>(S("status"), ignoreCase: true, out var status) && Enum.IsDefined(status) ? status : null,
            PromptName = S("prompt"),
            PromptVersionId = G("promptVersion"),
            MinCostMicros = L("minCost"),
            MaxCostMicros = L("maxCost"),
            MinLatencyMs = I("minMs"),
            MaxLatencyMs = I("maxMs"),
            FromUtc = D("from"),
            ToUtc = D("to"),
            TraceId = G("trace"),
            Sort = Enum.TryParse<TraceSort>(S("sort"), ignoreCase: true, out var sort) && Enum.IsDefined(sort) ? sort : TraceSort.Time,
        };
    }
}
