namespace Keystone.Data.Evals;

/// <summary>
/// A prompt's own gate and drift tolerance for one scope: the prompt's global value (<see cref="TenantId"/> null) or a
/// tenant override's. A scope without a row uses the prompt's global row, else <c>Evals:GateTolerancePoints</c>.
/// Tenant-filtered like the eval sets (forced row-level security on PostgreSQL); written by prompt editors.
/// </summary>
public sealed class EvalTolerance : ITenantFiltered
{
    public Guid Id { get; set; }

    public string PromptName { get; set; } = "";

    /// <summary>The tenant of an override's tolerance; null for the prompt's global tolerance.</summary>
    public Guid? TenantId { get; set; }

    /// <summary><c>global</c> or the tenant's id (see <see cref="EvalSet.OwnerKeyOf"/>): one row per prompt and owner.</summary>
    public string OwnerKey { get; set; } = "";

    /// <summary>Points on the 0-100 score scale.</summary>
    public double TolerancePoints { get; set; }

    public string UpdatedByUserId { get; set; } = "";

    public string? UpdatedByName { get; set; }

    public DateTime UpdatedUtc { get; set; }
}

/// <summary>
/// The score an active version was accepted with, per activation and set: the activation gate's run of the version, or
/// (when the activation did not go through a gate run) the first done run of the version after its activation. Later
/// runs of the active version are compared with it (drift).
/// </summary>
public sealed class EvalBaseline : ITenantFiltered
{
    public Guid Id { get; set; }

    /// <summary>The scope: the tenant of an override, null for the global activation.</summary>
    public Guid? TenantId { get; set; }

    public string PromptName { get; set; } = "";

    /// <summary>The <c>prompt_activations</c> row that made the version active in the scope.</summary>
    public long ActivationId { get; set; }

    public Guid PromptVersionId { get; set; }

    public int VersionNumber { get; set; }

    public Guid SetId { get; set; }

    public string Alias { get; set; } = "";

    /// <summary>The run that measured it.</summary>
    public Guid RunId { get; set; }

    /// <summary>The run's score in points (0-100).</summary>
    public double ScorePoints { get; set; }

    /// <summary><c>gate</c> (the activation gate's run) or <c>first_run</c> (the first done run after activation).</summary>
    public string Source { get; set; } = "";

    public DateTime CreatedUtc { get; set; }
}

/// <summary>Where a drift alert is in its life.</summary>
public enum EvalDriftStatus
{
    /// <summary>Raised and not handled yet: shown in the notifications.</summary>
    Open,

    /// <summary>Someone looked at it and decided to keep the version.</summary>
    Acknowledged,

    /// <summary>The scope was rolled back to the previous version from the alert.</summary>
    RolledBack,
}

/// <summary>
/// An active version scored more than its tolerance below its baseline on the same set and alias: the evidence (both
/// runs and scores, the examples whose score changed, the model that answered) and what was done about it.
/// </summary>
public sealed class EvalDriftAlert : ITenantFiltered
{
    public Guid Id { get; set; }

    /// <summary>The scope whose active version drifted: the override's tenant, null for the global version.</summary>
    public Guid? TenantId { get; set; }

    /// <summary>The prompt whose version drifted, or a feature's set name (<c>feature:&lt;label&gt;</c>) for a feature's drift.</summary>
    public string PromptName { get; set; } = "";

    /// <summary>The drifted version; null for a feature's set (it runs on its nightly alias, with no prompt version).</summary>
    public Guid? PromptVersionId { get; set; }

    /// <summary>The drifted version's number; null for a feature's set.</summary>
    public int? VersionNumber { get; set; }

    /// <summary>The activation the baseline belongs to; null for a feature's set (its baseline follows the nightly alias).</summary>
    public long? ActivationId { get; set; }

    public string Alias { get; set; } = "";

    /// <summary>The <c>provider/model</c> that answered most of the drifted run's examples (null when unknown).</summary>
    public string? Model { get; set; }

    public Guid SetId { get; set; }

    public string SetName { get; set; } = "";

    public Guid BaselineRunId { get; set; }

    public Guid RunId { get; set; }

    public double BaselineScorePoints { get; set; }

    public double ScorePoints { get; set; }

    public double TolerancePoints { get; set; }

    /// <summary>JSON array of the examples whose score changed: <c>[{"exampleId":…,"before":1,"after":0,"passedBefore":true,"passedAfter":false}]</c>.</summary>
    public string ChangedExamplesJson { get; set; } = "[]";

    public EvalDriftStatus Status { get; set; }

    /// <summary>
    /// <c>prompt|owner|version</c> (a feature's set: <c>feature:label|owner|alias</c>) while open, null once handled: the unique index on it lets one open alert exist per
    /// scope and version, so two runs finishing at once raise one alert (both databases allow many nulls in a unique index).
    /// </summary>
    public string? OpenKey { get; set; }

    public string? HandledByUserId { get; set; }

    public string? HandledByName { get; set; }

    public DateTime? HandledUtc { get; set; }

    /// <summary>The version the scope went back to (null: followed the global version, or not rolled back).</summary>
    public int? RolledBackToVersion { get; set; }

    public DateTime CreatedUtc { get; set; }
}
