using Bunit;
using Bunit.TestDoubles;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// The run page and the runs panel over the real app: runs start through the panel, Hangfire (in memory) runs them
/// through the gateway and the simulated provider, and the page shows progress and results as they are written.
/// </summary>
public sealed class EvalRunPageTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    // A bound for the run's gateway calls and the page's polling on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    public EvalRunPageTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        Use(_scope);
    }

    private void Use(AsyncServiceScope scope)
    {
        Services.AddSingleton(scope.ServiceProvider.GetRequiredService<TenantContext>());
        Services.AddSingleton(scope.ServiceProvider.GetRequiredService<EvalRunner>());
        Services.AddSingleton(scope.ServiceProvider.GetRequiredService<IOptions<EvalsOptions>>());
        Services.AddSingleton(TimeProvider.System);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    /// <summary>A new prompt's global set with one messages example per question (simulated-provider markers allowed).</summary>
    private async Task<EvalSetRow> SetAsync(params string[] questions)
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var store = _scope.ServiceProvider.GetRequiredService<EvalSetStore>();
        var set = await store.CreateSetAsync(name, null, null, CancellationToken.None);
        foreach (var q in questions)
        {
            await store.AddExampleAsync(set.Id, new EvalExampleInput(null, [new EvalMessage("user", q)], null,
                [new EvalExpectation(EvalExpectation.Regex, "\\S")], null), "editor", CancellationToken.None);
        }

        return set;
    }

    private Guid RunIdFromUrl()
    {
        var uri = Services.GetRequiredService<NavigationManager>().Uri;
        Assert.Contains("/evals/runs/", uri, StringComparison.Ordinal);
        return Guid.Parse(uri[(uri.LastIndexOf('/') + 1)..]);
    }

    [Fact]
    public async Task StartFromTheSet_ThePageShowsProgressThenEveryResultWithoutAReload()
    {
        var set = await SetAsync("Slow one [sim:slow=1500]", "Slow two [sim:slow=1500]", "Slow three [sim:slow=1500]");
        var panel = Render<EvalRunsPanel>(p => p.Add(x => x.SetId, set.Id));
        panel.WaitForElement("[data-test=run-start]", Wait);
        Assert.Contains("Version 1 (active)", panel.Find("[data-test=run-start-form]").TextContent, StringComparison.Ordinal);

        panel.Find("[data-test=run-start]").Click();
        var runId = RunIdFromUrl();
        var page = Render<EvalRunPage>(p => p.Add(x => x.Id, runId));

        page.WaitForElement("[data-test=run-status]", Wait);
        Assert.NotEqual("done", page.Find("[data-test=run-status]").TextContent.Trim());
        page.WaitForAssertion(() => Assert.Equal("done", page.Find("[data-test=run-status]").TextContent.Trim()), Wait);
        Assert.Equal(3, page.FindAll("[data-test=result-answer] [data-test=markdown]").Count);
        Assert.Equal("3 of 3 examples", page.Find("[data-test=run-progress-text]").TextContent.Trim());
        Assert.Equal("100.0", page.Find("[data-test=run-score]").TextContent.Trim());
        Assert.StartsWith("$", page.Find("[data-test=run-cost]").TextContent.Trim(), StringComparison.Ordinal);
        Assert.Empty(page.FindAll("[data-test=run-cancel]"));
        await using var db = _fixture.App.CreateSystemDb();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "eval_run.start" && a.Target == $"eval_run:{runId}"));
    }

    [Fact]
    public async Task Cancel_WhileRunning_EndsCancelledBeforeEveryExampleIsAnswered()
    {
        var set = await SetAsync(Enumerable.Range(1, 10).Select(i => $"Slow {i} [sim:slow=2000]").ToArray());
        var run = await _scope.ServiceProvider.GetRequiredService<EvalRunner>().StartAsync(new EvalRunRequest(set.Id, null, "fast", EvalRunTrigger.Manual), CancellationToken.None);
        var page = Render<EvalRunPage>(p => p.Add(x => x.Id, run.Id));

        page.WaitForElement("[data-test=run-cancel]", Wait).Click();

        page.WaitForAssertion(() => Assert.Equal("cancelled", page.Find("[data-test=run-status]").TextContent.Trim()), Wait);
        var ended = (await _scope.ServiceProvider.GetRequiredService<EvalRunStore>().GetAsync(run.Id, CancellationToken.None))!;
        Assert.True(ended.Completed < ended.Total);
        Assert.NotEmpty(page.FindAll("[data-test=run-retry]"));
    }

    [Fact]
    public async Task Retry_AfterAProviderError_QueuesOnlyTheFailedExampleAgain()
    {
        var set = await SetAsync("Fine", "Broken [sim:fail=500]");
        var run = await _scope.ServiceProvider.GetRequiredService<EvalRunner>().StartAsync(new EvalRunRequest(set.Id, 1, null, EvalRunTrigger.Manual), CancellationToken.None);
        var page = Render<EvalRunPage>(p => p.Add(x => x.Id, run.Id));
        page.WaitForAssertion(() => Assert.Equal("done", page.Find("[data-test=run-status]").TextContent.Trim()), Wait);
        Assert.Equal("1", page.Find("[data-test=run-errored]").TextContent.Trim());

        page.Find("[data-test=run-retry]").Click();

        page.WaitForAssertion(() => Assert.Contains("queued again", page.Find("[data-test=run-message]").TextContent, StringComparison.Ordinal), Wait);
        var store = _scope.ServiceProvider.GetRequiredService<EvalRunStore>();
        await WaitUntilAsync(async () => (await store.GetAsync(run.Id, CancellationToken.None))!.IsFinished);
        var results = await store.ResultsAsync(run.Id, CancellationToken.None);
        Assert.Equal([1, 2], results.Select(r => r.Attempt).Order());
        Assert.Equal(2, results.Single(r => r.Error is not null).Attempt);
        await using var db = _fixture.App.CreateSystemDb();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "eval_run.retry" && a.Target == $"eval_run:{run.Id}"));
    }

    [Fact]
    public async Task Support_SeesTheRunButNoStartCancelOrRetry_AndTheRunnerRefusesThem()
    {
        var set = await SetAsync("Broken [sim:fail=500]");
        var run = await _scope.ServiceProvider.GetRequiredService<EvalRunner>().StartAsync(new EvalRunRequest(set.Id, null, null, EvalRunTrigger.Manual), CancellationToken.None);
        var store = _scope.ServiceProvider.GetRequiredService<EvalRunStore>();
        await WaitUntilAsync(async () => (await store.GetAsync(run.Id, CancellationToken.None))!.IsFinished);
        await using var support = ScopeAs(_fixture.App, Roles.Support, "support@keystone.demo");
        await using var asSupport = new SupportContext(support);

        var page = asSupport.Render<EvalRunPage>(p => p.Add(x => x.Id, run.Id));
        var panel = asSupport.Render<EvalRunsPanel>(p => p.Add(x => x.SetId, set.Id));
        page.WaitForElement("[data-test=run-status]", Wait);
        panel.WaitForElement("[data-test=run-link]", Wait);

        Assert.Empty(page.FindAll("[data-test=run-retry]"));
        Assert.Empty(panel.FindAll("[data-test=run-start]"));
        var refused = await Assert.ThrowsAsync<EvalException>(() => support.ServiceProvider.GetRequiredService<EvalRunner>().RetryAsync(run.Id, CancellationToken.None));
        Assert.Equal(EvalException.Forbidden, refused.Code);
    }

    [Fact]
    public void UnknownRun_SaysSo()
    {
        var page = Render<EvalRunPage>(p => p.Add(x => x.Id, Guid.NewGuid()));

        page.WaitForElement("[data-test=run-not-found]", Wait);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var until = DateTime.UtcNow + Wait;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < until, "The run did not finish in time.");
            await Task.Delay(100);
        }
    }

    /// <summary>A second component context signed in as support (the test's own context is the prompt editor's).</summary>
    private sealed class SupportContext : KeystoneComponentTest
    {
        public SupportContext(AsyncServiceScope scope)
        {
            Services.AddSingleton(scope.ServiceProvider.GetRequiredService<TenantContext>());
            Services.AddSingleton(scope.ServiceProvider.GetRequiredService<EvalRunner>());
            Services.AddSingleton(scope.ServiceProvider.GetRequiredService<IOptions<EvalsOptions>>());
            Services.AddSingleton(TimeProvider.System);
        }
    }
}
