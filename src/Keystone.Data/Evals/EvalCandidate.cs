namespace Keystone.Data.Evals;

/// <summary>Where a sampled production call is in the review queue.</summary>
public enum EvalCandidateStatus
{
    /// <summary>Waiting for a reviewer.</summary>
    Pending,

    /// <summary>Accepted into a set (<see cref="EvalCandidate.AcceptedExampleId"/>).</summary>
    Accepted,

    /// <summary>Discarded by a reviewer.</summary>
    Discarded,
}

/// <summary>
/// A recorded production call the sampler picked (its feature's rate, a hash of its id) for the review queue: the input
/// messages and the answer as the trace store holds them (already redacted), and a link to the trace. A reviewer accepts
/// it into an eval set, once (a conditional status change), or discards it. One row per call: the sampler may read a
/// call twice (its overlap window) and never queues it twice.
/// </summary>
public sealed class EvalCandidate : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The sampled call (<c>llm_calls.id</c>); the trace page opens it.</summary>
    public Guid CallId { get; set; }

    public Guid TraceId { get; set; }

    public string Feature { get; set; } = "";

    public string? PromptName { get; set; }

    public Guid? PromptVersionId { get; set; }

    /// <summary>What the call asked for (alias or model).</summary>
    public string Alias { get; set; } = "";

    /// <summary>The redacted input: <c>{"messages": [...], "variables": {...}}</c>, the shape of an example's input.</summary>
    public string InputJson { get; set; } = "";

    /// <summary>The redacted answer the call gave.</summary>
    public string Answer { get; set; } = "";

    public EvalCandidateStatus Status { get; set; }

    public DateTime CallCreatedUtc { get; set; }

    public DateTime CreatedUtc { get; set; }

    public string? ReviewedByUserId { get; set; }

    public string? ReviewedByName { get; set; }

    public DateTime? ReviewedUtc { get; set; }

    public Guid? AcceptedSetId { get; set; }

    public Guid? AcceptedExampleId { get; set; }
}

/// <summary>
/// A tenant's sampling rate for one feature: the share of its recorded calls (ok, not replays, not evals) that become
/// review candidates, in parts per million (10,000 = 1 %). Set by a prompt editor or the tenant's admin, audited.
/// </summary>
public sealed class EvalSamplingRate : ITenantOwned
{
    public Guid TenantId { get; set; }

    public string Feature { get; set; } = "";

    /// <summary>0 to 1,000,000 (100 %).</summary>
    public int RatePpm { get; set; }

    public string UpdatedByUserId { get; set; } = "";

    public DateTime UpdatedUtc { get; set; }
}

/// <summary>The sampler's progress (not tenant-owned): the highest <c>llm_calls.ingested_utc</c> it has walked.</summary>
public sealed class EvalSamplerState
{
    /// <summary>The job's name (<c>eval-sampler</c>).</summary>
    public string Name { get; set; } = "";

    public DateTime? WatermarkUtc { get; set; }

    public DateTime? LastRunUtc { get; set; }

    /// <summary>Calls the last run read (its overlap included) and candidates it queued.</summary>
    public int LastRunCalls { get; set; }

    public int LastRunQueued { get; set; }
}
