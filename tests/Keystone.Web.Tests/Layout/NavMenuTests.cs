using Bunit;
using Keystone.Data.Identity;
using Keystone.Web.Components.Layout;

namespace Keystone.Web.Tests.Layout;

public sealed class NavMenuTests : KeystoneComponentTest
{
    // The expected navigation per role, written out by hand: a policy change that widens or narrows a
    // role's menu must show up here as a deliberate edit.
    public static TheoryData<string, string[]> Expected => new()
    {
        { Roles.PlatformAdmin, ["nav-home", "nav-playground", "nav-knowledge", "nav-agents", "nav-prompts", "nav-evals", "nav-evals-review", "nav-traces", "nav-dashboard", "nav-margin", "nav-usage", "nav-tenants", "nav-budgets", "nav-caching", "nav-keys", "nav-api-docs", "nav-approvals", "nav-members", "nav-audit", "nav-admin-jobs"] },
        { Roles.Support, ["nav-home", "nav-playground", "nav-knowledge", "nav-prompts", "nav-evals", "nav-traces", "nav-usage", "nav-approvals"] },
        { Roles.PromptEditor, ["nav-home", "nav-playground", "nav-knowledge", "nav-prompts", "nav-evals", "nav-evals-review", "nav-usage", "nav-approvals"] },
        { Roles.TenantAdmin, ["nav-home", "nav-playground", "nav-knowledge", "nav-agents", "nav-evals-review", "nav-traces", "nav-usage", "nav-budgets", "nav-caching", "nav-keys", "nav-api-docs", "nav-approvals", "nav-members", "nav-audit"] },
        { Roles.TenantMember, ["nav-home", "nav-playground", "nav-knowledge", "nav-usage", "nav-approvals"] },
    };

    [Theory]
    [MemberData(nameof(Expected))]
    public void Render_ForRole_ShowsExactlyTheRolesEntries(string role, string[] expected)
    {
        var menu = Render<NavMenu>(p => p.Add(c => c.User, PrincipalFor(role)));

        var shown = menu.FindAll("[data-test^=nav-]").Select(e => e.GetAttribute("data-test")).Where(a => a != "nav").ToArray();
        Assert.Equal(expected.Order(), shown.Order());
    }

    [Fact]
    public void Render_Anonymous_ShowsNothing()
    {
        var menu = Render<NavMenu>(p => p.Add(c => c.User, new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity())));

        Assert.DoesNotContain(menu.FindAll("[data-test^=nav-]"), e => e.GetAttribute("data-test") != "nav");
    }
}
