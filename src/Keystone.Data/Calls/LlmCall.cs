namespace Keystone.Data.Calls;

/// <summary>
/// One model call through the gateway: the atom of every dashboard. Money in micro-USD, times in UTC.
/// The heavy payload lives in <see cref="LlmTrace"/>.
/// </summary>
public sealed class LlmCall : ITenantOwned
{
    public Guid Id { get; set; }

    /// <summary>The id returned to callers in <c>X-Keystone-Trace-Id</c>; groups the calls of one trace.</summary>
    public Guid TraceId { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>Console user who made the call (playground, replay), if any.</summary>
    public string? UserId { get; set; }

    /// <summary>The tenant's end user (the request body's <c>user</c>), if given.</summary>
    public string? EndUser { get; set; }

    public Guid? ApiKeyId { get; set; }

    /// <summary>Feature label (<c>X-Keystone-Feature</c>, default <c>default</c>).</summary>
    public string Feature { get; set; } = "default";

    /// <summary>Request id of the HTTP request or job that made the call.</summary>
    public string? RequestId { get; set; }

    public string? PromptName { get; set; }

    public Guid? PromptVersionId { get; set; }

    /// <summary>What the caller asked for (<c>smart</c> or <c>openai/gpt-4o-mini</c>).</summary>
    public string Alias { get; set; } = "";

    /// <summary>Provider that answered (or was last tried).</summary>
    public string? Provider { get; set; }

    /// <summary>Provider model that answered (or was last tried).</summary>
    public string? Model { get; set; }

    public bool Streamed { get; set; }

    public int InputTokens { get; set; }

    public int OutputTokens { get; set; }

    /// <summary>Input tokens read from the provider's prompt cache (included in <see cref="InputTokens"/>).</summary>
    public int CachedInputTokens { get; set; }

    /// <summary>Input tokens written to a 5-minute prompt cache (included in <see cref="InputTokens"/>).</summary>
    public int CacheWriteTokens { get; set; }

    /// <summary>Input tokens written to a 1-hour prompt cache (included in <see cref="InputTokens"/>).</summary>
    public int CacheWrite1hTokens { get; set; }

    /// <summary>Reasoning tokens (included in <see cref="OutputTokens"/>).</summary>
    public int ReasoningTokens { get; set; }

    public long CostMicros { get; set; }

    public CostStatus CostStatus { get; set; }

    public BilledTo BilledTo { get; set; }

    public CacheStatus CacheStatus { get; set; }

    /// <summary>What a cache hit saved (the cost the original call had).</summary>
    public long SavedCostMicros { get; set; }

    /// <summary>Provider attempts made (0 for cache hits and rejections).</summary>
    public int Attempts { get; set; }

    /// <summary>True when a target other than the first answered.</summary>
    public bool FellBack { get; set; }

    public CallStatus Status { get; set; }

    /// <summary>Machine-readable error code when not ok (<c>budget_exceeded</c>, <c>upstream_unavailable</c>…).</summary>
    public string? ErrorCode { get; set; }

    /// <summary>Total latency as the caller saw it.</summary>
    public int LatencyMs { get; set; }

    /// <summary>Time to first token, for streams.</summary>
    public int? TtftMs { get; set; }

    /// <summary>For replays: the call replayed.</summary>
    public Guid? ReplayOfCallId { get; set; }

    /// <summary>For cache hits: the call whose answer was served (null for entries stored before it was kept).</summary>
    public Guid? CacheSourceCallId { get; set; }

    /// <summary>For semantic-cache hits: the cosine similarity of this question to the cached one.</summary>
    public double? CacheSimilarity { get; set; }

    public DateTime CreatedUtc { get; set; }

    /// <summary>
    /// When the row reached the database, by the database's clock (set by a column default; leave it unset).
    /// The rollup job's watermark: a call recorded late for an old <see cref="CreatedUtc"/> is still picked up.
    /// </summary>
    public DateTime IngestedUtc { get; set; }
}
