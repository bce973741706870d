using Keystone.Data.Identity;
using Microsoft.AspNetCore.Authorization;

namespace Keystone.Web.Hosting;

/// <summary>Every authorization policy of the product, declared once and applied with <c>[Authorize(Policy = …)]</c>.</summary>
internal static class Policies
{
    /// <summary>Founder / finance only.</summary>
    public const string PlatformAdmin = nameof(PlatformAdmin);

    /// <summary>Support staff (and platform admins).</summary>
    public const string Support = nameof(Support);

    /// <summary>Prompt editors (and platform admins).</summary>
    public const string PromptEditor = nameof(PromptEditor);

    /// <summary>Readers of managed prompts: prompt editors, support (from a trace's prompt link) and platform admins.</summary>
    public const string PromptReader = nameof(PromptReader);

    /// <summary>A tenant's administrator (and platform admins acting inside a tenant).</summary>
    public const string TenantAdmin = nameof(TenantAdmin);

    /// <summary>Anyone who works in a tenant: members, admins and platform staff.</summary>
    public const string TenantMember = nameof(TenantMember);

    /// <summary>Readers of the audit log: platform admins (all) and tenant admins (own tenant).</summary>
    public const string AuditReader = nameof(AuditReader);

    /// <summary>Readers of traces: support and platform admins (every tenant, audited) and tenant admins (own tenant).</summary>
    public const string TraceReader = nameof(TraceReader);

    /// <summary>Reviewers of sampled production calls (the eval review queue): prompt editors, platform admins and tenant admins (own tenant).</summary>
    public const string EvalReviewer = nameof(EvalReviewer);
    /// <summary>Readers of eval drift alerts, the people who own a prompt: prompt editors and platform admins (all), tenant admins (their override's).</summary>
    public const string DriftReader = nameof(DriftReader);

    /// <summary>
    /// Readers of eval runs, their compare pages and eval set pages: prompt readers (every run and set) and tenant admins
    /// (their own tenant's runs and sets only: the runs their drift alerts link to, the sets whose nightly alias they
    /// choose; the pages check the run's or set's tenant).
    /// </summary>
    public const string EvalRunReader = nameof(EvalRunReader);

    /// <summary>Any signed-in console user.</summary>
    public const string AnyUser = nameof(AnyUser);

    /// <summary>The roles each policy admits; the navigation and the route matrix test read this table too.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> RolesFor = new Dictionary<string, string[]>
    {
        [PlatformAdmin] = [Roles.PlatformAdmin],
        [Support] = [Roles.PlatformAdmin, Roles.Support],
        [PromptEditor] = [Roles.PlatformAdmin, Roles.PromptEditor],
        [PromptReader] = [Roles.PlatformAdmin, Roles.PromptEditor, Roles.Support],
        [TenantAdmin] = [Roles.PlatformAdmin, Roles.TenantAdmin],
        [TenantMember] = [.. Roles.All],
        [AuditReader] = [Roles.PlatformAdmin, Roles.TenantAdmin],
        [TraceReader] = [Roles.Support, Roles.PlatformAdmin, Roles.TenantAdmin],
        [EvalReviewer] = [Roles.PlatformAdmin, Roles.PromptEditor, Roles.TenantAdmin],
        [DriftReader] = [Roles.PlatformAdmin, Roles.PromptEditor, Roles.TenantAdmin],
        [EvalRunReader] = [Roles.PlatformAdmin, Roles.PromptEditor, Roles.Support, Roles.TenantAdmin],
        [AnyUser] = [.. Roles.All],
    };

    /// <summary>Registers every policy.</summary>
    public static AuthorizationBuilder AddKeystonePolicies(this AuthorizationBuilder builder)
    {
        foreach (var (name, roles) in RolesFor)
        {
            builder.AddPolicy(name, p => p.RequireAuthenticatedUser().RequireRole(roles));
        }

        return builder;
    }
}
