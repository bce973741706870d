using Keystone.Web.Hosting;

namespace Keystone.Web.Components.Layout;

/// <summary>One navigation entry: shown only to roles that the page's policy admits.</summary>
internal sealed record NavEntry(string Title, string Href, string Icon, string Policy, string Group);

/// <summary>
/// The console's navigation. An entry is added here when its feature exists (no empty pages); its policy
/// must be the page's own <c>[Authorize(Policy = …)]</c>, which the route matrix test checks.
/// </summary>
internal static class Navigation
{
    public static readonly IReadOnlyList<NavEntry> Entries =
    [
        new("Home", "/", MudBlazor.Icons.Material.Filled.Home, Policies.AnyUser, "Overview"),
        new("Playground", "/playground", MudBlazor.Icons.Material.Filled.Chat, Policies.TenantMember, "Build"),
        new("Prompts", "/prompts", MudBlazor.Icons.Material.Filled.EditNote, Policies.PromptReader, "Build"),
        new("Knowledge", "/knowledge", MudBlazor.Icons.Material.Filled.LibraryBooks, Policies.TenantMember, "Build"),
        new("Agents", "/agents", MudBlazor.Icons.Material.Filled.SmartToy, Policies.TenantAdmin, "Build"),
        new("Evals", "/evals", MudBlazor.Icons.Material.Filled.FactCheck, Policies.PromptReader, "Build"),
        new("Eval review", "/evals/review", MudBlazor.Icons.Material.Filled.RateReview, Policies.EvalReviewer, "Build"),
        new("Traces", "/traces", MudBlazor.Icons.Material.Filled.ManageSearch, Policies.TraceReader, "Operations"),
        new("Overview", "/dashboard", MudBlazor.Icons.Material.Filled.Insights, Policies.PlatformAdmin, "Business"),
        new("Margin", "/margin", MudBlazor.Icons.Material.Filled.AttachMoney, Policies.PlatformAdmin, "Business"),
        new("Usage", "/usage", MudBlazor.Icons.Material.Filled.DataUsage, Policies.TenantMember, "Overview"),
        new("Tenants", "/tenants", MudBlazor.Icons.Material.Filled.Business, Policies.PlatformAdmin, "Platform"),
        new("Budgets", "/budgets", MudBlazor.Icons.Material.Filled.Savings, Policies.TenantAdmin, "Settings"),
        new("Caching", "/caching", MudBlazor.Icons.Material.Filled.Cached, Policies.TenantAdmin, "Settings"),
        new("API keys", "/keys", MudBlazor.Icons.Material.Filled.VpnKey, Policies.TenantAdmin, "Settings"),
        new("API reference", "/api-docs", MudBlazor.Icons.Material.Filled.Api, Policies.TenantAdmin, "Settings"),
        new("Approvals", "/approvals", MudBlazor.Icons.Material.Filled.Approval, Policies.TenantMember, "Governance"),
        new("Members", "/members", MudBlazor.Icons.Material.Filled.Group, Policies.TenantAdmin, "Governance"),
        new("Audit log", "/audit", MudBlazor.Icons.Material.Filled.Policy, Policies.AuditReader, "Governance"),
        new("Jobs", "/admin/jobs", MudBlazor.Icons.Material.Filled.WorkHistory, Policies.PlatformAdmin, "Platform"),
    ];

    /// <summary>The entries a principal may use, in order.</summary>
    public static IEnumerable<NavEntry> For(System.Security.Claims.ClaimsPrincipal user)
        => Entries.Where(e => Policies.RolesFor[e.Policy].Any(user.IsInRole));
}
