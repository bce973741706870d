using Keystone.Data.Calls;

namespace Keystone.Gateway;

/// <summary>
/// One event of a streamed completion. A stream ends with exactly one <see cref="StreamCompleted"/> or
/// one <see cref="StreamFailed"/>: never silently.
/// </summary>
public abstract record ChatStreamEvent;

/// <summary>The target is known (sent before the first token; after a fallback, the one that answers).</summary>
public sealed record StreamStarted(Guid CallId, Guid TraceId, string Provider, string Model) : ChatStreamEvent
{
    /// <summary>The API key's request window after this call was counted (null without a key).</summary>
    public RequestRateLimit? RateLimit { get; init; }

    /// <summary>Whether the answer comes from a provider (<see cref="CacheStatus.None"/>) or is replayed from a cache.</summary>
    public CacheStatus CacheStatus { get; init; }

    /// <summary>For a semantic-cache hit: the cosine similarity of the question to the cached one.</summary>
    public double? CacheSimilarity { get; init; }
}

/// <summary>A piece of answer text.</summary>
public sealed record TextDelta(string Text) : ChatStreamEvent;

/// <summary>A fragment of a tool call (OpenAI's streaming shape: index, then id/name once, then argument pieces).</summary>
public sealed record ToolCallDelta(int Index, string? Id, string? Name, string? ArgumentsFragment) : ChatStreamEvent;

/// <summary>The stream finished; the result carries usage, cost and trace ids.</summary>
public sealed record StreamCompleted(ChatResult Result) : ChatStreamEvent;

/// <summary>
/// The stream failed after tokens reached the caller (the call is recorded <c>incomplete</c>), or could
/// not start on any target. Carries the error and what was recorded.
/// </summary>
public sealed record StreamFailed(GatewayError Error, CallOutcome? Outcome) : ChatStreamEvent;
