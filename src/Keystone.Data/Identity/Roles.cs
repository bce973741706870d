namespace Keystone.Data.Identity;

/// <summary>The five roles of the product (a demo user of each in the README; how each is scoped to tenants: docs/decisions/0006-tenant-isolation.md).</summary>
public static class Roles
{
    /// <summary>Founder / finance: sees every tenant, margin and revenue.</summary>
    public const string PlatformAdmin = "PlatformAdmin";

    /// <summary>Customer-support staff: reads and replays every tenant's traces, audited.</summary>
    public const string Support = "Support";

    /// <summary>Product team: edits prompts and evals.</summary>
    public const string PromptEditor = "PromptEditor";

    /// <summary>The customer's administrator: caps, keys, members, approvals.</summary>
    public const string TenantAdmin = "TenantAdmin";

    /// <summary>The customer's member: playground and own usage.</summary>
    public const string TenantMember = "TenantMember";

    /// <summary>Roles that see across tenants (through an explicit, audited tenant switch).</summary>
    public static readonly IReadOnlyList<string> Platform = [PlatformAdmin, Support, PromptEditor];

    /// <summary>Roles held through a tenant membership.</summary>
    public static readonly IReadOnlyList<string> Tenant = [TenantAdmin, TenantMember];

    /// <summary>Every role.</summary>
    public static readonly IReadOnlyList<string> All = [.. Platform, .. Tenant];
}
