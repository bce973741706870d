namespace Keystone.Data.Audit;

/// <summary>One audited action: who did what to which target, for which tenant.</summary>
public sealed class AuditEntry : ITenantFiltered
{
    public long Id { get; set; }

    /// <summary><c>user</c>, <c>agent</c>, <c>system</c> or <c>api_key</c>.</summary>
    public string ActorType { get; set; } = "";

    /// <summary>User id, agent id, key id or job name.</summary>
    public string ActorId { get; set; } = "";

    /// <summary>Human-readable actor (email, key name) at the time of the action.</summary>
    public string? ActorName { get; set; }

    /// <summary>The user an agent or key acted for, if any.</summary>
    public string? OnBehalfOf { get; set; }

    /// <summary>The tenant whose data was touched; null for platform-wide actions.</summary>
    public Guid? TenantId { get; set; }

    /// <summary>Dotted action name (<c>tenant.switch</c>, <c>trace.view</c>).</summary>
    public string Action { get; set; } = "";

    /// <summary>What was acted on (<c>tenant:acme</c>, <c>trace:…</c>).</summary>
    public string? Target { get; set; }

    /// <summary>Small JSON object with details; never secrets or payloads.</summary>
    public string? MetadataJson { get; set; }

    public DateTime CreatedUtc { get; set; }
}
