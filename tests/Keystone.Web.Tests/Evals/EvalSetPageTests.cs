using Bunit;
using Keystone.Data.Identity;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Evals;

/// <summary>The eval set page over the real app (SQLite, audit), signed in as the demo prompt editor or as support.</summary>
public sealed class EvalSetPageTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    public EvalSetPageTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        AddPageServices(Services, _scope);
    }

    /// <summary>What the set page injects, taken from <paramref name="scope"/> (signed in as the page's user).</summary>
    internal static void AddPageServices(IServiceCollection services, AsyncServiceScope scope)
    {
        services.AddSingleton(scope.ServiceProvider.GetRequiredService<TenantContext>());
        services.AddSingleton(scope.ServiceProvider.GetRequiredService<EvalSetEditor>());
        // The set page shows the set's runs (EvalRunsPanel).
        services.AddSingleton(scope.ServiceProvider.GetRequiredService<EvalRunner>());
        services.AddSingleton(scope.ServiceProvider.GetRequiredService<EvalTrendQuery>());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    private async Task<EvalSetRow> NewSetAsync()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        return await _scope.ServiceProvider.GetRequiredService<EvalSetEditor>().CreateSetAsync(name, null, null, CancellationToken.None);
    }

    [Fact]
    public async Task AddThenEditThenDelete_ShowsEachChangeAndAuditsIt()
    {
        var set = await NewSetAsync();
        var page = Render<EvalSetPage>(p => p.Add(x => x.SetId, set.Id));
        page.WaitForElement("[data-test=empty-state]", Wait);

        page.Find("[data-test=example-json]").Change("""{"variables": {"question": "Is it open?"}, "expected": "Yes", "expectations": [{"kind": "contains", "value": "yes"}]}""");
        page.Find("[data-test=example-save]").Click();
        page.WaitForAssertion(() => Assert.Contains("Is it open?", page.Find("[data-test=example-input]").TextContent, StringComparison.Ordinal), Wait);

        page.Find("[data-test=example-edit]").Click();
        page.Find("[data-test=example-json]").Change("""{"variables": {"question": "Is it open today?"}, "expected": "Yes"}""");
        page.Find("[data-test=example-save]").Click();
        page.WaitForAssertion(() => Assert.Contains("Is it open today?", page.Find("[data-test=example-input]").TextContent, StringComparison.Ordinal), Wait);

        page.Find("[data-test=example-delete]").Click();
        page.WaitForElement("[data-test=empty-state]", Wait);
        await using var db = _fixture.App.CreateSystemDb();
        var actions = await db.AuditLog.AsNoTracking().Where(a => a.Target!.StartsWith("eval_example:")).Select(a => a.Action).ToListAsync();
        Assert.Contains("eval_example.create", actions);
        Assert.Contains("eval_example.update", actions);
        Assert.Contains("eval_example.delete", actions);
    }

    [Fact]
    public async Task FeatureSet_ShowsItsNightlyPanel_NotNightlyUntilAnAliasIsChosen_ThenTheAlias()
    {
        var editor = _scope.ServiceProvider.GetRequiredService<EvalSetEditor>();
        var set = await editor.CreateFeatureSetAsync($"p-{Guid.NewGuid():N}"[..14], Keystone.Web.Platform.DemoData.AcmeId, null, CancellationToken.None);
        var before = Render<EvalSetPage>(p => p.Add(x => x.SetId, set.Id));
        before.WaitForElement("[data-test=nightly-panel]", Wait);
        var notNightly = before.Find("[data-test=nightly-alias]").TextContent;

        await editor.SetNightlyAliasAsync(set, "fast", CancellationToken.None);
        var after = Render<EvalSetPage>(p => p.Add(x => x.SetId, set.Id));
        after.WaitForElement("[data-test=nightly-panel]", Wait);

        Assert.Contains("Not run nightly", notNightly, StringComparison.Ordinal);
        Assert.NotEmpty(before.FindAll("[data-test=nightly-alias-save]"));
        Assert.Contains("Runs every night on fast", after.Find("[data-test=nightly-alias]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_WithABadLine_ListsTheLineAndImportsNothing()
    {
        var set = await NewSetAsync();
        var page = Render<EvalSetPage>(p => p.Add(x => x.SetId, set.Id));
        page.WaitForElement("[data-test=empty-state]", Wait);

        page.Find("[data-test=import-jsonl]").Change("{\"variables\": {\"q\": \"a\"}, \"expected\": \"b\"}\n{\"variables\": {\"q\": \"c\"}}\n");
        page.Find("[data-test=import-run]").Click();

        page.WaitForAssertion(() => Assert.Contains("Nothing was imported", page.Find("[data-test=set-message]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Contains("2", page.Find("[data-test=import-errors] tbody td").TextContent, StringComparison.Ordinal);
        Assert.Empty(await _scope.ServiceProvider.GetRequiredService<EvalSetStore>().ListExamplesAsync(set.Id, CancellationToken.None));
    }

    [Fact]
    public async Task DemoFile_PromptsSupportReplyEvalJsonl_SeedsTheGlobalSetAtStart()
    {
        var sets = await _scope.ServiceProvider.GetRequiredService<EvalSetEditor>().ListSetsAsync("support-reply", CancellationToken.None);

        var global = Assert.Single(sets, s => s.TenantId is null);
        Assert.Equal(3, global.Examples);
    }

    [Fact]
    public async Task Support_SeesTheSetButNoEditForms_AndTheEditorRefusesItsChanges()
    {
        var set = await NewSetAsync();
        await using var support = ScopeAs(_fixture.App, Roles.Support, "support@keystone.demo");
        var editor = support.ServiceProvider.GetRequiredService<EvalSetEditor>();

        var refused = await Assert.ThrowsAsync<EvalException>(() =>
            editor.AddExampleAsync(set, new EvalExampleInput(new Dictionary<string, string> { ["q"] = "x" }, null, "y", null, null), CancellationToken.None));

        Assert.Equal(EvalException.Forbidden, refused.Code);
        Assert.False(editor.CanEdit);
        Assert.Empty(await editor.ListExamplesAsync(set.Id, CancellationToken.None));
    }
}
