using Keystone.Data.Calls;

namespace Keystone.Gateway;

/// <summary>Token usage by type, as the provider reported it (or as estimated, see <see cref="CallOutcome.CostStatus"/>).</summary>
/// <param name="InputTokens">All input tokens, including cached reads and cache writes.</param>
/// <param name="OutputTokens">All output tokens, including reasoning.</param>
/// <param name="CachedInputTokens">Input tokens read from the provider's prompt cache.</param>
/// <param name="CacheWriteTokens">Input tokens written to a 5-minute prompt cache.</param>
/// <param name="CacheWrite1hTokens">Input tokens written to a 1-hour prompt cache.</param>
/// <param name="ReasoningTokens">Reasoning tokens (part of output).</param>
public sealed record Usage(
    int InputTokens,
    int OutputTokens,
    int CachedInputTokens = 0,
    int CacheWriteTokens = 0,
    int CacheWrite1hTokens = 0,
    int ReasoningTokens = 0)
{
    public static readonly Usage Zero = new(0, 0);
}

/// <summary>One try of one provider target.</summary>
/// <param name="Provider">Provider name.</param>
/// <param name="Model">Provider model.</param>
/// <param name="Outcome"><c>ok</c>, <c>error</c>, <c>timeout</c>, <c>circuit_open</c>, <c>cancelled</c>.</param>
/// <param name="StatusCode">Upstream HTTP status, when there was one.</param>
/// <param name="Error">Error text (never a secret).</param>
/// <param name="DurationMs">How long the attempt took.</param>
public sealed record Attempt(string Provider, string Model, string Outcome, int? StatusCode, string? Error, int DurationMs);

/// <summary>What the gateway recorded about a call: ids, who answered, what it cost.</summary>
public sealed record CallOutcome
{
    public required Guid CallId { get; init; }

    public required Guid TraceId { get; init; }

    public string? Provider { get; init; }

    public string? Model { get; init; }

    public long CostMicros { get; init; }

    public CostStatus CostStatus { get; init; }

    public BilledTo BilledTo { get; init; }

    public CacheStatus CacheStatus { get; init; }

    /// <summary>For a semantic-cache hit: the cosine similarity of the question to the cached one.</summary>
    public double? CacheSimilarity { get; init; }

    /// <summary>The API key's request window after this call (null for calls without a key).</summary>
    public RequestRateLimit? RateLimit { get; init; }

    public long SavedCostMicros { get; init; }

    public IReadOnlyList<Attempt> Attempts { get; init; } = [];

    public bool FellBack { get; init; }

    public CallStatus Status { get; init; }

    /// <summary>Time spent in the gateway itself (not waiting on providers).</summary>
    public double OverheadMs { get; init; }

    public int LatencyMs { get; init; }

    public int? TtftMs { get; init; }
}

/// <summary>A finished chat completion.</summary>
/// <param name="Text">Answer text (may be empty when the model only called tools).</param>
/// <param name="ToolCalls">Tool calls the model made.</param>
/// <param name="FinishReason"><c>stop</c>, <c>length</c>, <c>tool_calls</c>, <c>content_filter</c>.</param>
/// <param name="Usage">Token usage.</param>
/// <param name="Outcome">What was recorded.</param>
public sealed record ChatResult(string Text, IReadOnlyList<ToolCall> ToolCalls, string FinishReason, Usage Usage, CallOutcome Outcome);

/// <summary>Embedding vectors, in input order.</summary>
public sealed record EmbeddingResult(IReadOnlyList<float[]> Vectors, Usage Usage, CallOutcome Outcome);
