namespace Keystone.Data.Evals;

/// <summary>
/// A prompt's eval set: the global set (<see cref="TenantId"/> null, run against the platform's active version) or one
/// tenant's set for its override (run against that tenant's version, spend attributed to the tenant). Its examples
/// are the <see cref="EvalExample"/> rows of the same tenant (or none) whose <see cref="EvalExample.EvalSet"/> is
/// <see cref="Name"/>, so the examples support saved from traces before sets existed belong to their set unchanged.
/// </summary>
public sealed class EvalSet : ITenantFiltered
{
    public Guid Id { get; set; }

    /// <summary>The tenant of an override's set; null for the global set.</summary>
    public Guid? TenantId { get; set; }

    /// <summary>
    /// <c>global</c> or the tenant's id: one value per owner, so the unique index (OwnerKey, Name) also holds for the
    /// global set (a unique index over a null tenant would not, as both databases treat nulls as distinct).
    /// </summary>
    public string OwnerKey { get; set; } = "";

    /// <summary>The set's name: the prompt's name, or <c>support</c> for calls made without a named prompt.</summary>
    public string Name { get; set; } = "";

    /// <summary>The prompt the set evaluates (null for the <c>support</c> set of calls made without one, and for a feature's set).</summary>
    public string? PromptName { get; set; }

    /// <summary>
    /// The feature label a feature's set evaluates (the <c>X-Keystone-Feature</c> its calls carry); null for a prompt's set.
    /// A feature's set is named <c>feature:&lt;label&gt;</c> and runs its examples' messages on an alias, with no prompt version.
    /// </summary>
    public string? Feature { get; set; }

    public string? Description { get; set; }

    /// <summary>
    /// The alias (or <c>provider/model</c>) a feature's set is run on every night (a prompt's set runs on its active
    /// version's alias instead); null: not run nightly. Changing it starts a new baseline for drift.
    /// </summary>
    public string? NightlyAlias { get; set; }

    /// <summary>When <see cref="NightlyAlias"/> was last set: the first done run on it after this moment is the feature's drift baseline.</summary>
    public DateTime? NightlyAliasSinceUtc { get; set; }

    public DateTime CreatedUtc { get; set; }

    /// <summary>The set name of a feature's set.</summary>
    public static string FeatureSetName(string feature) => FeaturePrefix + feature;

    /// <summary>What a feature's set name starts with (prompt names cannot contain a colon).</summary>
    public const string FeaturePrefix = "feature:";

    /// <summary>The owner key of a tenant (or of the global set when null).</summary>
    public static string OwnerKeyOf(Guid? tenantId) => tenantId?.ToString("D") ?? "global";
}
