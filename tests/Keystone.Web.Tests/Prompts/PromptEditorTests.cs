using Bunit;
using Keystone.Data.Identity;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Prompts;

/// <summary>The prompt editor on the real page (real catalog, workbench, gateway tokenizer and price table), as the demo prompt editor.</summary>
public sealed class PromptEditorTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public PromptEditorTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<TenantContext>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<PromptCatalog>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<PromptWorkbench>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<IPromptActivationGate>());
        Services.AddSingleton(fixture.App.Services.GetRequiredService<TimeProvider>());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    private async Task<IRenderedComponent<PromptDetailPage>> OpenEditorAsync()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var page = Render<PromptDetailPage>(p => p.Add(x => x.Name, name));
        page.WaitForElement("[data-test=version-view]", Wait);
        page.Find("[data-test=new-version]").Click();
        page.WaitForElement("[data-test=new-version-form]", Wait);
        return page;
    }

    [Fact]
    public async Task Typing_UndeclaredVariable_IsHighlightedAndWarned()
    {
        var page = await OpenEditorAsync();

        page.Find("[data-test=new-version-user]").Input("Order {{order_id}}: {{question}} for {{company}}");

        page.WaitForAssertion(() =>
        {
            var finding = page.Find("[data-test=lint-finding][data-code=undeclared]");
            Assert.Contains("{{order_id}}", finding.TextContent, StringComparison.Ordinal);
        }, Wait);
        var mark = page.Find("[data-test=new-version-user-highlight] mark[data-var=order_id]");
        Assert.Contains("ks-var-undeclared", mark.ClassName, StringComparison.Ordinal);
        Assert.DoesNotContain("ks-var-undeclared", page.Find("[data-test=new-version-user-highlight] mark[data-var=question]").ClassName, StringComparison.Ordinal);
        Assert.Equal("Order {{order_id}}: {{question}} for {{company}}", page.Find("[data-test=new-version-user-highlight]").TextContent);
    }

    [Fact]
    public async Task Typing_DeclaredVariableNoLongerUsed_IsNoted()
    {
        var page = await OpenEditorAsync();

        page.Find("[data-test=new-version-user]").Input("Just {{company}}.");

        page.WaitForAssertion(() => Assert.Contains("'question' is declared but no template",
            page.Find("[data-test=lint-finding][data-code=unused]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Empty(page.FindAll("[data-test=lint-finding][data-code=undeclared]"));
    }

    [Fact]
    public async Task Typing_VariableBeforeLongFixedText_WarnsAboutTheCache()
    {
        var page = await OpenEditorAsync();
        var longRules = string.Join(" ", Enumerable.Range(1, 120).Select(i => $"Rule {i}: be kind."));

        page.Find("[data-test=new-version-system]").Input("You work for {{company}}. " + longRules);

        page.WaitForAssertion(() => Assert.Contains("{{company}} (the system template, line 1) comes before",
            page.Find("[data-test=lint-finding][data-code=variable_before_static]").TextContent, StringComparison.Ordinal), Wait);

        page.Find("[data-test=new-version-system]").Input(longRules + " You work for {{company}}.");

        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-test=lint-finding][data-code=variable_before_static]")), Wait);
    }

    [Fact]
    public async Task Preview_ScriptInTemplateAndSample_NeverReachesTheDom()
    {
        var page = await OpenEditorAsync();
        page.Find("[data-test=sample-question]").Input("<img src=x onerror=alert(2)> **why?**");

        page.Find("[data-test=new-version-user]").Input("<script>alert(1)</script> Hello {{question}}");

        page.WaitForAssertion(() => Assert.Contains("<strong>why?</strong>", page.FindAll("[data-test=preview-user]")[^1].InnerHtml, StringComparison.Ordinal), Wait);
        foreach (var preview in page.FindAll("[data-test=prompt-preview]"))
        {
            Assert.Empty(preview.QuerySelectorAll("script"));
            Assert.Empty(preview.QuerySelectorAll("img"));
            Assert.Empty(preview.QuerySelectorAll("[onerror]"));
        }

        Assert.Contains("&lt;script&gt;", page.FindAll("[data-test=preview-user]")[^1].InnerHtml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CostPanel_LongerStaticPart_CountsMoreTokensAndCostsMore()
    {
        var page = await OpenEditorAsync();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-test=cost-total]")), Wait);
        var tokensBefore = int.Parse(page.Find("[data-test=cost-static-tokens]").TextContent.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
        var costBefore = long.Parse(page.Find("[data-test=cost-total]").GetAttribute("data-micros")!, System.Globalization.CultureInfo.InvariantCulture);

        page.Find("[data-test=new-version-system]").Input("V1 system for {{company}}. " + string.Join(" ", Enumerable.Repeat("Always answer politely and cite the order.", 40)));

        page.WaitForAssertion(() =>
        {
            var tokens = int.Parse(page.Find("[data-test=cost-static-tokens]").TextContent.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(tokens > tokensBefore + 200, $"{tokens} after, {tokensBefore} before");
        }, Wait);
        var costAfter = long.Parse(page.Find("[data-test=cost-total]").GetAttribute("data-micros")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(costAfter > costBefore, $"{costAfter} after, {costBefore} before");
        Assert.Contains("sim/sim-smart", page.Find("[data-test=cost-panel]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CostPanel_ActiveVersionCalled_ShowsTheLastSevenDaysRealCallsAndCost()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var vars = new Dictionary<string, string> { ["company"] = "Acme", ["question"] = "Where is my parcel?" };
        var first = await CallAsync(_fixture.App, name, vars, "cust-1");
        var second = await CallAsync(_fixture.App, name, vars, "cust-2");

        var page = Render<PromptDetailPage>(p => p.Add(x => x.Name, name));

        page.WaitForAssertion(() => Assert.Contains("Active version v1, last 7 days: 2 real calls", page.Find("[data-test=cost-traffic]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(first.Outcome.CostMicros + second.Outcome.CostMicros,
            long.Parse(page.Find("[data-test=cost-traffic-total]").GetAttribute("data-micros")!, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Compare_ShownVersion_IsDiffedAgainstTheActiveOne()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo($"/prompts/{name}?version=2");

        var page = Render<PromptDetailPage>(p => p.Add(x => x.Name, name));

        page.WaitForElement("[data-test=version-diff]", Wait);
        Assert.Equal("V1", page.Find("[data-test=diff-left-system] del").TextContent);
        Assert.Equal("V2", page.Find("[data-test=diff-right-system] ins").TextContent);
        var changed = page.FindAll("[data-test=diff-setting][data-changed=true]").Select(r => r.Children[0].TextContent).ToList();
        Assert.Equal(["Temperature", "Max tokens", "Note"], changed);
    }

    [Fact]
    public async Task CacheAdvisor_ReorderStaticFirst_RewritesTheDraftAndClearsThePlacementWarning()
    {
        var page = await OpenEditorAsync();
        var rules = string.Join(" ", Enumerable.Range(1, 120).Select(i => $"Rule {i}: be kind."));
        page.Find("[data-test=new-version-system]").Input("You work for {{company}}.\n\n" + rules);
        page.WaitForElement("[data-test=lint-finding][data-code=variable_before_static]", Wait);
        Assert.Contains("comes before", page.Find("[data-test=cache-warning]").TextContent, StringComparison.Ordinal);

        page.Find("[data-test=cache-reorder]").Click();

        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-test=lint-finding][data-code=variable_before_static]")), Wait);
        Assert.StartsWith("Rule 1: be kind.", page.Find("[data-test=new-version-system-highlight]").TextContent, StringComparison.Ordinal);
        Assert.EndsWith("You work for {{company}}.", page.Find("[data-test=new-version-system-highlight]").TextContent, StringComparison.Ordinal);
        Assert.Empty(page.FindAll("[data-test=cache-reorder]"));
    }

    [Fact]
    public async Task SaveSamples_Edited_PersistsThemAsTheDeclaredVariablesAndAudits()
    {
        var page = await OpenEditorAsync();
        var name = page.Instance.Name;

        page.Find("[data-test=sample-company]").Input("Acme");
        page.Find("[data-test=sample-new-name]").Change("order_id");
        page.Find("[data-test=sample-add]").Click();
        page.WaitForElement("[data-test=sample-order_id]", Wait).Input("A-1001");
        page.Find("[data-test=samples-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("Sample variables saved", page.Find("[data-test=prompt-message]").TextContent, StringComparison.Ordinal), Wait);
        await using var db = _fixture.App.CreateSystemDb();
        var prompt = await db.Prompts.AsNoTracking().SingleAsync(p => p.Name == name);
        var samples = PromptCatalog.SamplesOf(prompt);
        Assert.Equal("Acme", samples["company"]);
        Assert.Equal("A-1001", samples["order_id"]);
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "prompt.samples_update" && a.Target == $"prompt:{name}"));
    }
}

/// <summary>Support opens a prompt: everything is shown, nothing can be changed.</summary>
public sealed class PromptReadOnlyTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public PromptReadOnlyTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = ScopeAs(fixture.App, Roles.Support, "support@keystone.demo");
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<TenantContext>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<PromptCatalog>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<PromptWorkbench>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<IPromptActivationGate>());
        Services.AddSingleton(fixture.App.Services.GetRequiredService<TimeProvider>());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    [Fact]
    public async Task Render_AsSupport_ShowsPreviewAndCostButNoEditing()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);

        var page = Render<PromptDetailPage>(p => p.Add(x => x.Name, name));

        page.WaitForElement("[data-test=cost-total]", TimeSpan.FromSeconds(15));
        Assert.NotNull(page.Find("[data-test=prompt-preview]"));
        Assert.Empty(page.FindAll("[data-test=new-version]"));
        Assert.Empty(page.FindAll("[data-test=samples-save]"));
        Assert.Empty(page.FindAll("[data-test=activate-global]"));
        Assert.Empty(page.FindAll("input[data-test=sample-company], textarea[data-test=sample-company]"));
        await using var scope = ScopeAs(_fixture.App, Roles.Support, "support@keystone.demo");
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => scope.ServiceProvider.GetRequiredService<PromptCatalog>()
            .SaveSamplesAsync(name, new Dictionary<string, string> { ["company"] = "x" }, CancellationToken.None));
    }
}
