using Keystone.Data.Calls;

namespace Keystone.Data.Playground;

/// <summary>How an assistant answer ended in the playground. Stored as text.</summary>
public enum AnswerState
{
    /// <summary>A user message, or an answer that finished.</summary>
    Complete,

    /// <summary>The user pressed Stop; the partial text is kept.</summary>
    Stopped,

    /// <summary>The stream failed after some text arrived (the call is recorded <c>incomplete</c>).</summary>
    Failed,
}

/// <summary>
/// One message of a playground conversation. Assistant answers carry what the gateway recorded about the
/// call that produced them (ids for the trace link, who answered, tokens, cost, timings).
/// </summary>
public sealed class ConversationMessage : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public Guid ConversationId { get; set; }

    /// <summary>Position in the conversation; compared answers of one turn share it.</summary>
    public int Sequence { get; set; }

    /// <summary><c>user</c> or <c>assistant</c>.</summary>
    public string Role { get; set; } = "";

    public string Content { get; set; } = "";

    public AnswerState State { get; set; }

    /// <summary>
    /// For compared answers: their column (0, 1, 2). Column 0 is the answer the conversation continues with.
    /// </summary>
    public int Variant { get; set; }

    /// <summary>What was asked for (alias or <c>provider/model</c>).</summary>
    public string? RequestedModel { get; set; }

    public Guid? CallId { get; set; }

    public Guid? TraceId { get; set; }

    public string? Provider { get; set; }

    public string? Model { get; set; }

    public bool FellBack { get; set; }

    public CacheStatus CacheStatus { get; set; }

    public int InputTokens { get; set; }

    public int OutputTokens { get; set; }

    public int CachedInputTokens { get; set; }

    public long CostMicros { get; set; }

    public CostStatus CostStatus { get; set; }

    public int? TtftMs { get; set; }

    public int? LatencyMs { get; set; }

    /// <summary>Plain-words error for a failed answer.</summary>
    public string? Error { get; set; }

    public DateTime CreatedUtc { get; set; }
}
