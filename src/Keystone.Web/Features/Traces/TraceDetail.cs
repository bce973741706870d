using Keystone.Data.Calls;

namespace Keystone.Web.Features.Traces;

/// <summary>Everything the detail page shows about one call.</summary>
public sealed record TraceDetail(
    LlmCall Call,
    string? TenantName,
    TracePayload Payload,
    bool HasTrace,
    bool HasRaw,
    int RedactionCount,
    DateTime? RawPurgedUtc,
    IReadOnlyList<TraceRow> Neighbours,
    IReadOnlyList<TraceRow> Replays);

/// <summary>The unredacted payload, shown to platform admins with a stated reason.</summary>
public sealed record RawTrace(string? RequestJson, string? ResponseJson);
