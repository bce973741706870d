namespace Keystone.Data.Evals;

/// <summary>Where an eval run is in its life. Terminal: <see cref="Done"/>, <see cref="Failed"/>, <see cref="Cancelled"/>.</summary>
public enum EvalRunStatus
{
    /// <summary>Created, its job not started yet.</summary>
    Queued,

    /// <summary>A worker holds it (<see cref="EvalRun.WorkerId"/>) and writes results.</summary>
    Running,

    /// <summary>Every example has its result.</summary>
    Done,

    /// <summary>Stopped with <see cref="EvalRun.FailureReason"/> (budget refused, stalled, lost on a restart, ...).</summary>
    Failed,

    /// <summary>Cancelled by a user; the results written before the next example boundary stay.</summary>
    Cancelled,
}

/// <summary>How a run's answers are asked for (docs/decisions/0049-eval-batch-mode.md).</summary>
public enum EvalRunMode
{
    /// <summary>One gateway call per example, answered as it goes.</summary>
    Live,

    /// <summary>One provider batch (the OpenAI Batch API's flow): about half the price, results within 24 h.</summary>
    Batch,
}

/// <summary>What started a run.</summary>
public enum EvalRunTrigger
{
    Manual,
    Api,
    Schedule,
    Activation,
}

/// <summary>
/// One run of an eval set against a prompt version and a model alias. Its totals are the sums of its
/// <see cref="EvalResult"/> rows: every result is written in the same transaction as the increments here, so the two
/// never disagree. Tenant-filtered like its set: a tenant override's run is the tenant's row, a global set's run has no
/// tenant (<see cref="TenantId"/> null) and its calls are attributed to <see cref="BillingTenantId"/>.
/// </summary>
public sealed class EvalRun : ITenantFiltered
{
    public Guid Id { get; set; }

    /// <summary>The set's tenant; null for a run of a global set.</summary>
    public Guid? TenantId { get; set; }

    /// <summary>The tenant the run's gateway calls are made in (budget caps, usage, margin): the set's tenant, or the platform tenant for a global set.</summary>
    public Guid BillingTenantId { get; set; }

    public Guid SetId { get; set; }

    public string SetName { get; set; } = "";

    /// <summary>The prompt the set evaluates (null for the <c>support</c> set).</summary>
    public string? PromptName { get; set; }

    public Guid? PromptVersionId { get; set; }

    public int? PromptVersionNumber { get; set; }

    /// <summary>The model alias every answer is asked of.</summary>
    public string Alias { get; set; } = "";

    public EvalRunStatus Status { get; set; }

    public EvalRunTrigger Trigger { get; set; }

    /// <summary>Live (one call per example) or batch (one provider batch); stored as <c>live</c> / <c>batch</c>.</summary>
    public EvalRunMode Mode { get; set; }

    /// <summary>A batch run's provider batch id, once submitted.</summary>
    public string? ProviderBatchId { get; set; }

    /// <summary>
    /// A batch run's state as JSON: the gateway's ticket (each line's call id and hold), the attempt it was submitted for,
    /// and the provider's last reported status and counts. Null for a live run and before submission.
    /// </summary>
    public string? BatchStateJson { get; set; }

    /// <summary>The examples of the set when the run was created (JSON array of ids): later edits of the set do not change what it measures.</summary>
    public string ExampleIdsJson { get; set; } = "[]";

    /// <summary>How many examples the run has (the length of <see cref="ExampleIdsJson"/>).</summary>
    public int Total { get; set; }

    /// <summary>Result rows written (scored or errored).</summary>
    public int Completed { get; set; }

    /// <summary>Results that passed every scorer.</summary>
    public int Passed { get; set; }

    /// <summary>Results whose answer could not be had (gateway error): retry runs these again.</summary>
    public int Errored { get; set; }

    /// <summary>Sum of the results' scores (0..1 each); the run's score is this over <see cref="Completed"/>.</summary>
    public double ScoreSum { get; set; }

    public long CostMicros { get; set; }

    public long InputTokens { get; set; }

    public long OutputTokens { get; set; }

    public long LatencyMsSum { get; set; }

    /// <summary>1 for the first pass; each retry of the failed examples adds one.</summary>
    public int Attempt { get; set; } = 1;

    /// <summary>Set by a cancel: the worker stops at the next example boundary.</summary>
    public bool CancelRequested { get; set; }

    /// <summary>The job execution that holds the run while it is running (every result write checks it).</summary>
    public string? WorkerId { get; set; }

    /// <summary>Last sign of life: queued (created, retried, released), claimed, or a result written. The watchdog fails an unfinished run silent for too long.</summary>
    public DateTime? HeartbeatUtc { get; set; }

    public string? FailureReason { get; set; }

    public string StartedByUserId { get; set; } = "";

    public string? StartedByName { get; set; }

    public DateTime CreatedUtc { get; set; }

    public DateTime? StartedUtc { get; set; }

    public DateTime? FinishedUtc { get; set; }
}

/// <summary>
/// One example's result in a run: complete or absent (written with the run's totals in one transaction). Either a
/// scored answer, or <see cref="Error"/> when no answer could be had (then retry may replace it).
/// </summary>
public sealed class EvalResult : ITenantFiltered
{
    public Guid Id { get; set; }

    public Guid RunId { get; set; }

    /// <summary>The run's tenant (null for a global set's run).</summary>
    public Guid? TenantId { get; set; }

    public Guid ExampleId { get; set; }

    /// <summary>The run attempt that wrote it.</summary>
    public int Attempt { get; set; }

    public string Answer { get; set; } = "";

    /// <summary>0..1, the mean of the example's scorers (0 for an error).</summary>
    public double Score { get; set; }

    public bool Passed { get; set; }

    /// <summary>The scorers' reasons in plain words.</summary>
    public string Reasons { get; set; } = "";

    /// <summary>Why no answer could be had (the gateway's error); null for a scored answer.</summary>
    public string? Error { get; set; }

    public int InputTokens { get; set; }

    public int OutputTokens { get; set; }

    public long CostMicros { get; set; }

    public int LatencyMs { get; set; }

    /// <summary>The answer's call (trace), when it reached the gateway.</summary>
    public Guid? TraceId { get; set; }

    /// <summary>The <c>eval-judge</c> prompt version whose instructions the LLM-as-judge scorer used (null: no judge, or the built-in instructions).</summary>
    public Guid? JudgePromptVersionId { get; set; }

    /// <summary>That version's number, kept with the result so it reads without a join and survives the version's deletion.</summary>
    public int? JudgePromptVersion { get; set; }

    public DateTime CreatedUtc { get; set; }
}
