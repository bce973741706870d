using Keystone.Data.Identity;

namespace Keystone.Web.Platform;

/// <summary>The demo tenants and users (the README's demo accounts). Fixed ids so scripts and tests can name them.</summary>
internal static class DemoData
{
    public static readonly Guid FreePlanId = Guid.Parse("0b7d0f6a-1f2e-4c35-9a6b-000000000001");
    public static readonly Guid ProPlanId = Guid.Parse("0b7d0f6a-1f2e-4c35-9a6b-000000000002");
    public static readonly Guid EnterprisePlanId = Guid.Parse("0b7d0f6a-1f2e-4c35-9a6b-000000000003");

    /// <summary>A flat-price plan whose usage is not metered: the demo's customer under water.</summary>
    public static readonly Guid TeamPlanId = Guid.Parse("0b7d0f6a-1f2e-4c35-9a6b-000000000004");

    public static readonly Guid AcmeId = Guid.Parse("a0000000-0000-4000-8000-00000000ac3e");
    public static readonly Guid GlobexId = Guid.Parse("a0000000-0000-4000-8000-0000000061b0");
    public static readonly Guid InitechId = Guid.Parse("a0000000-0000-4000-8000-00000000171e");

    /// <summary>The fourth demo tenant (no users of its own): a flat-price customer whose research agent costs more than it pays.</summary>
    public static readonly Guid UmbrellaId = Guid.Parse("a0000000-0000-4000-8000-0000000000b7");

    /// <summary>One demo user: email, display name, platform role or tenant role, tenant (for tenant roles).</summary>
    internal sealed record DemoUser(string Email, string DisplayName, string Role, Guid? TenantId);

    public static readonly IReadOnlyList<DemoUser> Users =
    [
        new("founder@keystone.demo", "Fran Founder", Roles.PlatformAdmin, null),
        new("support@keystone.demo", "Sam Support", Roles.Support, null),
        new("product@keystone.demo", "Pat Product", Roles.PromptEditor, null),
        new("admin@acme.demo", "Ada Acme", Roles.TenantAdmin, AcmeId),
        new("member@acme.demo", "Max Acme", Roles.TenantMember, AcmeId),
        new("admin@globex.demo", "Gus Globex", Roles.TenantAdmin, GlobexId),
        new("admin@initech.demo", "Ivy Initech", Roles.TenantAdmin, InitechId),
    ];
}
