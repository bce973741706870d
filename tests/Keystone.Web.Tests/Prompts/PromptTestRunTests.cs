using Bunit;
using Keystone.Data.Calls;
using Keystone.Data.Identity;
using Keystone.Gateway;
using Keystone.Gateway.Recording;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Prompts;

/// <summary>Test runs through the real gateway (simulated provider), from the page and from the workbench.</summary>
public sealed class PromptTestRunTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public PromptTestRunTests(AppFixture fixture)
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

    [Fact]
    public async Task Run_TwoVersionsSideBySide_StreamsBothAndRecordsThemAsPromptTestCalls()
    {
        var (name, v1, v2) = await CreateTwoVersionPromptAsync(_fixture.App);
        Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo($"/prompts/{name}?version=2");
        var page = Render<PromptDetailPage>(p => p.Add(x => x.Name, name));
        page.WaitForElement("[data-test=test-run-start]", Wait);
        page.Find("[data-test=sample-company]").Input("Acme");
        page.Find("[data-test=sample-question]").Input("Where is my parcel?");

        page.Find("[data-test=test-run-start]").Click();

        page.WaitForAssertion(() =>
        {
            Assert.Equal("done", page.Find("[data-test=test-result-a]").GetAttribute("data-state"));
            Assert.Equal("done", page.Find("[data-test=test-result-b]").GetAttribute("data-state"));
        }, Wait);
        Assert.False(string.IsNullOrWhiteSpace(page.Find("[data-test=test-answer-a]").TextContent));
        Assert.Contains("ms", page.Find("[data-test=test-stats-b]").TextContent, StringComparison.Ordinal);
        var costA = long.Parse(page.Find("[data-test=test-cost-a]").GetAttribute("data-micros")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(costA > 0);
        await _fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        await using var db = _fixture.App.CreateSystemDb();
        var calls = await db.Calls.AsNoTracking().Where(c => c.PromptName == name && c.Feature == PromptWorkbench.TestFeature).ToListAsync();
        Assert.Equal(2, calls.Count);
        Assert.Equal(new[] { v1.Id, v2.Id }.Order(), calls.Select(c => c.PromptVersionId!.Value).Order());
        Assert.All(calls, c =>
        {
            Assert.Equal(DemoData.AcmeId, c.TenantId);
            Assert.Equal(BilledTo.Platform, c.BilledTo);
            Assert.Equal($"{Roles.PromptEditor}-user-id", c.UserId);
            Assert.Equal(CacheStatus.None, c.CacheStatus);
        });
        Assert.Contains(calls, c => c.CostMicros == costA);
        Assert.Equal(2, await db.AuditLog.CountAsync(a => a.Action == "prompt.test_run" && a.Target == $"prompt:{name}"));
    }

    [Fact]
    public async Task Run_DraftOnAnotherAlias_UsesTheDraftTemplatesAndThatAlias()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var page = Render<PromptDetailPage>(p => p.Add(x => x.Name, name));
        page.WaitForElement("[data-test=new-version]", Wait).Click();
        page.WaitForElement("[data-test=new-version-user]", Wait).Input("Draft asks {{question}}");
        page.Find("[data-test=sample-question]").Input("hello");
        page.Find("[data-test=sample-company]").Input("Acme");
        page.Find("[data-test=test-alias-a]").Change("fast");

        page.Find("[data-test=test-run-start]").Click();

        page.WaitForAssertion(() => Assert.Equal("done", page.Find("[data-test=test-result-a]").GetAttribute("data-state")), Wait);
        await _fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        await using var db = _fixture.App.CreateSystemDb();
        var call = await db.Calls.AsNoTracking().SingleAsync(c => c.PromptName == name && c.Feature == PromptWorkbench.TestFeature && c.PromptVersionId == null);
        Assert.Equal("fast", call.Alias);
        var trace = (await TracePayloads.ReadOneAsync(db, call.Id, raw: true, default))!;
        Assert.Contains("Draft asks hello", trace.RequestJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TestRun_TenantPromptTestCapReached_IsRefusedBeforeAnyTokenAndShownInPlainWords()
    {
        var (name, _, v2) = await CreateTwoVersionPromptAsync(_fixture.App);
        await _fixture.App.Services.GetRequiredService<IBudgetService>().SetAsync(DemoData.GlobexId,
            [new BudgetCapInput(BudgetScope.Feature, PromptWorkbench.TestFeature, BudgetPeriod.Day, 1)], null, BudgetAction.Block, CancellationToken.None);
        var workbench = _scope.ServiceProvider.GetRequiredService<PromptWorkbench>();
        var samples = new Dictionary<string, string> { ["company"] = "Globex", ["question"] = "Hi?" };

        var error = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var _ in workbench.TestRunAsync(name, v2, null, samples, DemoData.GlobexId, CancellationToken.None))
            {
            }
        });

        Assert.Equal(GatewayErrorCodes.BudgetExceeded, error.Error.Code);
    }

    [Fact]
    public async Task TestRun_MissingSample_NamesTheVariable()
    {
        var (name, _, v2) = await CreateTwoVersionPromptAsync(_fixture.App);
        var workbench = _scope.ServiceProvider.GetRequiredService<PromptWorkbench>();

        var error = await Assert.ThrowsAsync<PromptException>(async () =>
        {
            await foreach (var _ in workbench.TestRunAsync(name, v2, null, new Dictionary<string, string> { ["company"] = "Acme" }, DemoData.AcmeId, CancellationToken.None))
            {
            }
        });

        Assert.Equal("question", error.Variable);
    }
}
