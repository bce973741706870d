namespace Keystone.Data.Agents;

/// <summary>What a step is. Stored as text.</summary>
public enum AgentStepKind
{
    /// <summary>A model call (its answer text and the tool calls it asked for).</summary>
    Model,

    /// <summary>One tool call the model asked for.</summary>
    Tool,
}

/// <summary>Where a step is. Stored as text.</summary>
public enum AgentStepState
{
    /// <summary>Written before a tool runs, with its idempotency key, so a resumed run knows it may have run.</summary>
    Started,

    Completed,

    /// <summary>The tool ran and failed; the error went back to the model.</summary>
    Failed,

    /// <summary>Refused before running (not allowed, no permission, invalid input, suggest-only); the refusal went back to the model.</summary>
    Refused,

    /// <summary>Waiting on a person's decision.</summary>
    AwaitingApproval,

    /// <summary>A person rejected it (or it expired); the rejection went back to the model.</summary>
    Rejected,
}

/// <summary>
/// One persisted step of a run: a model call with its cost, or a tool call with its input, output and idempotency key.
/// A step is written before the next begins, so a resumed run continues from the last completed one.
/// </summary>
public sealed class AgentRunStep : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public Guid RunId { get; set; }

    /// <summary>0, 1, 2, … within the run.</summary>
    public int Sequence { get; set; }

    public AgentStepKind Kind { get; set; }

    public AgentStepState State { get; set; }

    // Model steps.
    public Guid? CallId { get; set; }

    public string? Provider { get; set; }

    public string? Model { get; set; }

    public long CostMicros { get; set; }

    public int InputTokens { get; set; }

    public int OutputTokens { get; set; }

    /// <summary>The assistant's text (its answer, or its rationale next to tool calls).</summary>
    public string? Text { get; set; }

    /// <summary>The tool calls the model asked for, as JSON (<c>[{id,name,arguments}]</c>).</summary>
    public string? ToolCallsJson { get; set; }

    // Tool steps.
    public string? Tool { get; set; }

    /// <summary>The provider's tool call id (echoed back to the model in the tool message).</summary>
    public string? ToolCallId { get; set; }

    public string? InputJson { get; set; }

    /// <summary>What went back to the model (output, refusal or error), after the size cap.</summary>
    public string? OutputJson { get; set; }

    /// <summary><c>run:step</c>: a tool that ran under this key returns its first result again instead of acting twice.</summary>
    public string? IdempotencyKey { get; set; }

    public int? AutonomyLevel { get; set; }

    public bool Truncated { get; set; }

    public Guid? ApprovalId { get; set; }

    public string? ErrorCode { get; set; }

    public string? Error { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime? CompletedUtc { get; set; }
}
