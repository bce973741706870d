namespace Keystone.Data.Prompts;

/// <summary>
/// One activation, kept as history: the active version of a prompt for a tenant is that tenant's latest override
/// row (<see cref="TenantId"/> set) unless that row removed the override, else the latest global row (<see cref="TenantId"/> null). A rollback is a new
/// row pointing at the previous version, so the history shows it.
/// </summary>
/// <remarks>
/// Not <see cref="ITenantFiltered"/> (no row-level security): rows are written by platform prompt editors and only
/// point at platform-owned versions; see docs/decisions/0015-prompts-are-platform-owned.md.
/// </remarks>
public sealed class PromptActivation
{
    public long Id { get; set; }

    public Guid PromptId { get; set; }

    /// <summary>The tenant whose override this is; null for the global activation.</summary>
    public Guid? TenantId { get; set; }

    /// <summary>The version made active; null on a tenant row means "override removed: follow the global version".</summary>
    public Guid? VersionId { get; set; }

    public string ActivatedByUserId { get; set; } = "";

    public string? ActivatedByName { get; set; }

    /// <summary>True when written by "roll back" (the previous active version made active again).</summary>
    public bool IsRollback { get; set; }

    public DateTime ActivatedUtc { get; set; }
}
