namespace Keystone.Data.Agents;

/// <summary>Where a run is. Stored as text.</summary>
public enum AgentRunState
{
    /// <summary>Accepted; no worker has claimed it yet.</summary>
    Queued,

    /// <summary>A worker holds its lease and heartbeats.</summary>
    Running,

    /// <summary>Paused on a pending action until a person decides (no worker holds it).</summary>
    WaitingApproval,

    Succeeded,

    Failed,

    Cancelled,
}

/// <summary>
/// One durable run of an agent. Its steps are persisted one by one; a worker claims the run with a lease and
/// heartbeats, and a janitor frees the lease of a worker that stopped heartbeating so another resumes it.
/// </summary>
public sealed class AgentRun : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public Guid AgentId { get; set; }

    public string AgentName { get; set; } = "";

    /// <summary>The alias (or allowed <c>provider/model</c>) every step calls; a replay may name another.</summary>
    public string Model { get; set; } = "";

    public string? SystemPrompt { get; set; }

    public Guid? PromptVersionId { get; set; }

    public string? PromptName { get; set; }

    /// <summary>The tools allowed for this run, space-separated (the agent's allowlist when the run started).</summary>
    public string Tools { get; set; } = "";

    /// <summary>The permissions of whom the run acts for, space-separated, fixed when it started.</summary>
    public string Permissions { get; set; } = "";

    public string Input { get; set; } = "";

    public AgentRunState State { get; set; }

    /// <summary>The console user, or <c>api-key:&lt;id&gt;</c>, the run acts for.</summary>
    public string OnBehalfOf { get; set; } = "";

    public string? StartedByUserId { get; set; }

    public Guid? ApiKeyId { get; set; }

    /// <summary>Every model call of the run is attached to this trace.</summary>
    public Guid TraceId { get; set; }

    public long RunBudgetMicros { get; set; }

    public int MaxSteps { get; set; }

    /// <summary>Spent so far (settled cost of the model calls), micro-USD.</summary>
    public long CostMicros { get; set; }

    /// <summary>Model calls made so far.</summary>
    public int ModelCalls { get; set; }

    /// <summary>Tool calls that failed so far (bounded: past the limit the run fails).</summary>
    public int ToolErrors { get; set; }

    /// <summary>Tool outputs cut to the tool's size cap so far.</summary>
    public int TruncatedOutputs { get; set; }

    /// <summary>How many times a worker picked the run up again after another stopped.</summary>
    public int Resumes { get; set; }

    public bool CancelRequested { get; set; }

    /// <summary>The worker that holds the run; null when none does.</summary>
    public Guid? LeaseId { get; set; }

    public DateTime? HeartbeatUtc { get; set; }

    /// <summary>The final answer.</summary>
    public string? Output { get; set; }

    public string? ErrorCode { get; set; }

    public string? Error { get; set; }

    /// <summary>For a replay: the run it was copied from, and the step it was copied up to (exclusive).</summary>
    public Guid? ReplayOfRunId { get; set; }

    public int? ReplayFromStep { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime UpdatedUtc { get; set; }

    public DateTime? FinishedUtc { get; set; }
}
