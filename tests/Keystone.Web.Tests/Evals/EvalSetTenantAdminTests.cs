using Bunit;
using Keystone.Data.Identity;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// The eval set page over the real app (SQLite, audit) signed in as Acme's tenant admin: they choose, change and stop
/// the nightly alias of Acme's feature sets, audited as the admin API key's path is, and get none of the prompt
/// editor's other edit powers; another tenant's set and a global one read as no set; a member and support are refused.
/// </summary>
public sealed class EvalSetTenantAdminTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _admin;

    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    public EvalSetTenantAdminTests(AppFixture fixture)
    {
        _fixture = fixture;
        _admin = ScopeAs(fixture.App, PrincipalFor(Roles.TenantAdmin, DemoData.AcmeId));
        EvalSetPageTests.AddPageServices(Services, _admin);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _admin.DisposeAsync();
    }

    private async Task<EvalSetRow> FeatureSetAsync(Guid? tenantId)
    {
        await using var editor = ScopeAs(_fixture.App, Roles.PromptEditor, "product@keystone.demo");
        return await editor.ServiceProvider.GetRequiredService<EvalSetEditor>()
            .CreateFeatureSetAsync($"ta-{Guid.NewGuid():N}"[..14], tenantId, null, CancellationToken.None);
    }

    private static async Task SaveNightlyAsync(IRenderedComponent<EvalSetPage> page, string? alias)
    {
        var select = page.FindComponent<MudSelect<string>>();
        await select.InvokeAsync(() => select.Instance.ValueChanged.InvokeAsync(alias));
        page.Find("[data-test=nightly-alias-save]").Click();
    }

    [Fact]
    public async Task TenantAdmin_ChoosesThenStopsTheirFeatureSetsNightlyAlias_OnThePage_AuditedAsThemselves()
    {
        var set = await FeatureSetAsync(DemoData.AcmeId);
        var page = Render<EvalSetPage>(p => p.Add(x => x.SetId, set.Id));
        page.WaitForElement("[data-test=nightly-alias-save]", Wait);

        await SaveNightlyAsync(page, "fast");
        page.WaitForAssertion(() => Assert.Contains("Runs every night on fast", page.Find("[data-test=nightly-alias]").TextContent, StringComparison.Ordinal), Wait);
        await SaveNightlyAsync(page, null);
        page.WaitForAssertion(() => Assert.Contains("Not run nightly", page.Find("[data-test=nightly-alias]").TextContent, StringComparison.Ordinal), Wait);

        await using var db = _fixture.App.CreateSystemDb();
        Assert.Null(await db.EvalSets.AsNoTracking().Where(s => s.Id == set.Id).Select(s => s.NightlyAlias).SingleAsync());
        var audits = await db.AuditLog.AsNoTracking().Where(a => a.Target == $"eval_set:{set.Id}" && a.Action == "eval_set.nightly_alias").OrderBy(a => a.Id).ToListAsync();
        Assert.Equal(2, audits.Count);
        var adminId = _admin.ServiceProvider.GetRequiredService<TenantContext>().UserId;
        Assert.All(audits, a => Assert.Equal(("user", adminId, (Guid?)DemoData.AcmeId), (a.ActorType, a.ActorId, a.TenantId)));
        Assert.Contains("\"alias\":\"fast\"", audits[0].MetadataJson, StringComparison.Ordinal);
        Assert.Contains("\"before\":\"fast\"", audits[1].MetadataJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TenantAdmin_GetsTheNightlyControlOnly_NotTheEditorsExampleImportOrRunForms_AndTheEditorRefusesTheirExampleChanges()
    {
        var set = await FeatureSetAsync(DemoData.AcmeId);
        var page = Render<EvalSetPage>(p => p.Add(x => x.SetId, set.Id));
        page.WaitForElement("[data-test=nightly-alias-save]", Wait);
        page.WaitForElement("[data-test=eval-runs]", Wait);
        var editor = _admin.ServiceProvider.GetRequiredService<EvalSetEditor>();

        var refused = await Assert.ThrowsAsync<EvalException>(() =>
            editor.AddExampleAsync(set, new EvalExampleInput(null, [new EvalMessage("user", "hi")], "hello", null, null), CancellationToken.None));

        Assert.Empty(page.FindAll("[data-test=example-form]"));
        Assert.Empty(page.FindAll("[data-test=import-form]"));
        Assert.Empty(page.FindAll("[data-test=run-start-form]"));
        Assert.Equal(EvalException.Forbidden, refused.Code);
        Assert.False(editor.CanEdit);
    }

    [Fact]
    public async Task TenantAdmin_AnotherTenantsSetOrAGlobalSet_ReadsAsNone_OnThePageAndInTheEditor_EvenWithAForgedRow()
    {
        var globex = await FeatureSetAsync(DemoData.GlobexId);
        var global = await FeatureSetAsync(null);
        var editor = _admin.ServiceProvider.GetRequiredService<EvalSetEditor>();

        var globexPage = Render<EvalSetPage>(p => p.Add(x => x.SetId, globex.Id));
        var globalPage = Render<EvalSetPage>(p => p.Add(x => x.SetId, global.Id));
        globexPage.WaitForElement("[data-test=set-not-found]", Wait);
        globalPage.WaitForElement("[data-test=set-not-found]", Wait);
        var foreign = await Assert.ThrowsAsync<EvalException>(() => editor.SetNightlyAliasAsync(globex, "fast", CancellationToken.None));
        // The row the caller hands in says Acme; the stored set is Globex's, and that decides.
        var forged = await Assert.ThrowsAsync<EvalException>(() => editor.SetNightlyAliasAsync(globex with { TenantId = DemoData.AcmeId }, "fast", CancellationToken.None));
        var onGlobal = await Assert.ThrowsAsync<EvalException>(() => editor.SetNightlyAliasAsync(global, "fast", CancellationToken.None));
        var examples = await Assert.ThrowsAsync<EvalException>(() => editor.ListExamplesAsync(globex.Id, CancellationToken.None));

        Assert.Empty(globexPage.FindAll("[data-test=nightly-panel]"));
        Assert.Equal([EvalException.NotFound, EvalException.NotFound, EvalException.NotFound, EvalException.NotFound],
            new[] { foreign.Code, forged.Code, onGlobal.Code, examples.Code });
        Assert.Null(await editor.GetSetAsync(globex.Id, CancellationToken.None));
        var listed = (await editor.ListSetsAsync(null, CancellationToken.None)).Select(s => s.Id).ToList();
        Assert.DoesNotContain(globex.Id, listed);
        Assert.DoesNotContain(global.Id, listed);
        Assert.All(await editor.ListSetsAsync(null, CancellationToken.None), s => Assert.Equal(DemoData.AcmeId, s.TenantId));
        await using var db = _fixture.App.CreateSystemDb();
        Assert.Empty(await db.EvalSets.AsNoTracking().Where(s => (s.Id == globex.Id || s.Id == global.Id) && s.NightlyAlias != null).ToListAsync());
    }

    [Fact]
    public async Task TenantMember_AndSupport_AreRefusedTheNightlyAlias_ByTheEditor_AndAMemberCannotEvenReadTheSet()
    {
        var set = await FeatureSetAsync(DemoData.AcmeId);
        await using var member = ScopeAs(_fixture.App, PrincipalFor(Roles.TenantMember, DemoData.AcmeId));
        await using var support = ScopeAs(_fixture.App, PrincipalFor(Roles.Support));
        var asMember = member.ServiceProvider.GetRequiredService<EvalSetEditor>();
        var asSupport = support.ServiceProvider.GetRequiredService<EvalSetEditor>();

        var memberRefused = await Assert.ThrowsAsync<EvalException>(() => asMember.SetNightlyAliasAsync(set, "fast", CancellationToken.None));
        var supportRefused = await Assert.ThrowsAsync<EvalException>(() => asSupport.SetNightlyAliasAsync(set, "fast", CancellationToken.None));

        Assert.Equal((EvalException.Forbidden, EvalException.Forbidden), (memberRefused.Code, supportRefused.Code));
        Assert.False(asMember.CanSetNightly(set));
        Assert.Null(await asMember.GetSetAsync(set.Id, CancellationToken.None));
        Assert.True(asSupport.CanView(set));
        Assert.False(asSupport.CanSetNightly(set));
        await using var db = _fixture.App.CreateSystemDb();
        Assert.Null(await db.EvalSets.AsNoTracking().Where(s => s.Id == set.Id).Select(s => s.NightlyAlias).SingleAsync());
    }
}
