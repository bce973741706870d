using Keystone.Web.Platform;
using Bunit;
using Keystone.Data.Identity;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Prompts;

/// <summary>The prompt pages over the real app's catalog (SQLite, audit), signed in as the demo prompt editor.</summary>
public sealed class PromptPagesTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public PromptPagesTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<TenantContext>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<PromptCatalog>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<PromptWorkbench>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<IPromptActivationGate>());
        Services.AddSingleton(fixture.App.Services.GetRequiredService<TimeProvider>());
    }

    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    public Task InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services are only async-disposable: bUnit's container must be disposed asynchronously.
    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    private IRenderedComponent<PromptDetailPage> RenderPrompt(string name, int? version = null)
    {
        if (version is { } v)
        {
            var nav = Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>();
            nav.NavigateTo($"/prompts/{name}?version={v}");
        }

        var page = Render<PromptDetailPage>(p => p.Add(x => x.Name, name));
        page.WaitForElement("[data-test=version-view]", Wait);
        return page;
    }

    [Fact]
    public async Task NewVersion_FromTheShownVersion_SavesTheNextNumberAuditsItAndShowsIt()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var page = RenderPrompt(name);

        page.Find("[data-test=new-version]").Click();
        page.WaitForElement("[data-test=new-version-user]", Wait).Input("V3 for {{company}}: {{question}}");
        page.Find("[data-test=new-version-note]").Change("shorter");
        page.Find("[data-test=new-version-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("Version 3 saved", page.Find("[data-test=prompt-message]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal("V3 for {{company}}: {{question}}", page.Find("[data-test=version-user]").TextContent);
        // Made from v1 (the shown, active version): its system template and alias carry over.
        Assert.Equal("V1 system for {{company}}.", page.Find("[data-test=version-system]").TextContent);
        Assert.Contains("active globally: v1", page.Find("[data-test=active-global]").TextContent, StringComparison.Ordinal);
        await using var db = _fixture.App.CreateSystemDb();
        var v3 = await db.PromptVersions.AsNoTracking().SingleAsync(v => v.Number == 3 && db.Prompts.Any(p => p.Id == v.PromptId && p.Name == name));
        Assert.Equal("shorter", v3.Note);
        Assert.Equal("product@keystone.demo", v3.CreatedByName);
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "prompt.version_create" && a.Target == $"prompt:{name}" && a.MetadataJson!.Contains("\"version\":3")));
    }

    [Fact]
    public async Task NewVersion_EmptyUserTemplate_ShowsTheValidationMessageAndSavesNothing()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var page = RenderPrompt(name);

        page.Find("[data-test=new-version]").Click();
        page.WaitForElement("[data-test=new-version-user]", Wait).Input("   ");
        page.Find("[data-test=new-version-save]").Click();

        page.WaitForAssertion(() => Assert.Contains("user template is required", page.Find("[data-test=new-version-error]").TextContent, StringComparison.Ordinal), Wait);
        await using var db = _fixture.App.CreateSystemDb();
        Assert.Equal(2, await db.PromptVersions.CountAsync(v => db.Prompts.Any(p => p.Id == v.PromptId && p.Name == name)));
    }

    [Fact]
    public async Task ActivateThenRollback_Global_SwitchesToV2AndBackToV1WithHistory()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var dialogs = Render<MudDialogProvider>(); // Both actions change production: each asks first (issue 21).
        var page = RenderPrompt(name, version: 2);

        page.Find("[data-test=activate-global]").Click();
        Confirm(dialogs, "gets version 2 from its next call", "Activate globally");
        page.WaitForAssertion(() => Assert.Contains("active globally: v2", page.Find("[data-test=active-global]").TextContent, StringComparison.Ordinal), Wait);
        var afterActivate = await ActiveForAcmeAsync(name);
        page.Find("[data-test=rollback-global]").Click();
        Confirm(dialogs, "goes back to the version that was active before", "Roll back");

        page.WaitForAssertion(() => Assert.Contains("active globally: v1", page.Find("[data-test=active-global]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(2, afterActivate);
        Assert.Equal(1, await ActiveForAcmeAsync(name));
        var rows = page.FindAll("[data-test=history-row]");
        Assert.Equal(3, rows.Count);
        Assert.Contains("rollback", rows[0].TextContent, StringComparison.Ordinal);
        Assert.Contains("v1", rows[0].TextContent, StringComparison.Ordinal);
        await using var db = _fixture.App.CreateSystemDb();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "prompt.rollback" && a.Target == $"prompt:{name}"));
    }

    [Fact]
    public async Task ActivateForTenant_Acme_ShowsTheOverrideAndOnlyAcmeGetsIt()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var page = RenderPrompt(name, version: 2);

        var select = page.FindComponent<MudSelect<Guid?>>();
        await select.InvokeAsync(() => select.Instance.ValueChanged.InvokeAsync(DemoData.AcmeId));
        page.Find("[data-test=activate-tenant]").Click();

        page.WaitForAssertion(() => Assert.Contains("v2", page.Find($"[data-test=override-{DemoData.AcmeId}]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(2, await ActiveForAcmeAsync(name));
        var renderer = _fixture.App.Services.GetRequiredService<PromptRenderer>();
        Assert.Equal(1, (await renderer.ResolveAsync(name, DemoData.GlobexId, null, CancellationToken.None)).Version.Number);
    }

    [Fact]
    public async Task PromptsList_ExistingPrompt_ShowsActiveVersionAndVersionCount()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);

        var page = Render<PromptsPage>();

        page.WaitForAssertion(() => Assert.Equal("v1", page.Find($"[data-test=active-{name}]").TextContent), Wait);
        Assert.Contains($"href=\"/prompts/{name}\"", page.Find($"[data-test=prompt-{name}]").InnerHtml, StringComparison.Ordinal);
        Assert.Contains("support-reply", page.Find("[data-test=prompts-table]").TextContent, StringComparison.Ordinal);
    }

    private async Task<int> ActiveForAcmeAsync(string name)
        => (await _fixture.App.Services.GetRequiredService<PromptRenderer>().ResolveAsync(name, DemoData.AcmeId, null, CancellationToken.None)).Version.Number;

    /// <summary>Checks the confirmation says what will change, then confirms.</summary>
    private static void Confirm(IRenderedComponent<MudDialogProvider> dialogs, string says, string button)
    {
        dialogs.WaitForAssertion(() => Assert.Contains(says, dialogs.Markup, StringComparison.Ordinal), Wait);
        dialogs.FindAll(".mud-dialog button").Single(b => b.TextContent.Trim().Equals(button, StringComparison.OrdinalIgnoreCase)).Click();
    }
}
