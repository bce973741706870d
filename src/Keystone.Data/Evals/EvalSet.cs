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

    /// <summary>The prompt the set evaluates (null for the <c>support</c> set of calls made without one).</summary>
    public string? PromptName { get; set; }

    public string? Description { get; set; }

    public DateTime CreatedUtc { get; set; }

    /// <summary>The owner key of a tenant (or of the global set when null).</summary>
    public static string OwnerKeyOf(Guid? tenantId) => tenantId?.ToString("D") ?? "global";
}
