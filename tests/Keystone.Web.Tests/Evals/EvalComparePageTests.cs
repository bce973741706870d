using Bunit;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Gateway;
using Keystone.Gateway.Recording;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Evals;

/// <summary>The compare page over the real app: two runs of one set on <c>smart</c> and <c>fast</c>, and real traffic to project from.</summary>
public sealed class EvalComparePageTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    // A bound for the runs' gateway calls on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    public EvalComparePageTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<EvalCompare>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<EvalRunner>());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    private async Task<EvalSetRow> SetAsync(Guid? tenantId, int examples)
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var store = _scope.ServiceProvider.GetRequiredService<EvalSetStore>();
        var set = await store.CreateSetAsync(name, tenantId, null, CancellationToken.None);
        for (var i = 0; i < examples; i++)
        {
            await store.AddExampleAsync(set.Id, new EvalExampleInput(null, [new EvalMessage("user", $"Question {i}: how do refunds work?")], null,
                [new EvalExpectation(EvalExpectation.Regex, "\\S")], null), "editor", CancellationToken.None);
        }

        return set;
    }

    private async Task<EvalRunView> RunAsync(Guid setId, string alias)
    {
        var runner = _scope.ServiceProvider.GetRequiredService<EvalRunner>();
        var run = await runner.StartAsync(new EvalRunRequest(setId, null, alias, EvalRunTrigger.Manual), CancellationToken.None);
        var until = DateTime.UtcNow + Wait;
        while (!(await runner.Store.GetAsync(run.Id, CancellationToken.None))!.IsFinished)
        {
            Assert.True(DateTime.UtcNow < until, "The run did not finish in time.");
            await Task.Delay(100);
        }

        await _fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        return (await runner.Store.GetAsync(run.Id, CancellationToken.None))!;
    }

    /// <summary>Mean cost of the answer calls of a run, from their call rows.</summary>
    private async Task<long> AnswerCostPerExampleAsync(Guid runId)
    {
        var results = await _scope.ServiceProvider.GetRequiredService<EvalRunStore>().ResultsAsync(runId, CancellationToken.None);
        var traces = results.Select(r => r.TraceId!.Value).ToList();
        await using var db = _fixture.App.CreateSystemDb();
        var costs = await db.Calls.AsNoTracking().Where(c => traces.Contains(c.TraceId)).Select(c => c.CostMicros).ToListAsync();
        Assert.Equal(results.Count, costs.Count);
        return costs.Sum() / costs.Count;
    }

    [Fact]
    public async Task SmartVersusFast_ShowsBothSidesEachExampleAndTheMonthlySavingAtTheFeaturesRealTraffic()
    {
        var set = await SetAsync(DemoData.AcmeId, 3);
        var smart = await RunAsync(set.Id, "smart");
        var fast = await RunAsync(set.Id, "fast");
        var feature = $"compare-{Guid.NewGuid():N}"[..20];
        var gateway = _fixture.App.Services.GetRequiredService<ILlmGateway>();
        for (var i = 0; i < 4; i++)
        {
            await gateway.CompleteAsync(new ChatRequest { Model = "fast", Messages = [new ChatMessage("user", $"Production call {i}")] },
                new CallContext { TenantId = DemoData.AcmeId, Feature = feature }, CancellationToken.None);
        }

        await _fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        var expected = 4 * (await AnswerCostPerExampleAsync(smart.Id) - await AnswerCostPerExampleAsync(fast.Id));

        var page = RenderAt($"/evals/compare?a={smart.Id}&b={fast.Id}");

        page.WaitForElement("[data-test=compare-summary]", Wait);
        Assert.Equal("v1 · smart", page.Find("[data-test=compare-subject-A]").TextContent.Trim());
        Assert.Equal("v1 · fast", page.Find("[data-test=compare-subject-B]").TextContent.Trim());
        Assert.Equal("100.0", page.Find("[data-test=compare-score-A]").TextContent.Trim());
        Assert.EndsWith("ms", page.Find("[data-test=compare-p95-B]").TextContent.Trim(), StringComparison.Ordinal);
        Assert.Equal(3, page.FindAll("[data-test=compare-delta]").Count);
        var row = page.FindAll("[data-test=compare-traffic] tbody tr").Single(r => r.TextContent.Contains(feature, StringComparison.Ordinal));
        Assert.Contains("4", row.Children[1].TextContent, StringComparison.Ordinal);
        Assert.Equal(expected.ToString(System.Globalization.CultureInfo.InvariantCulture),
            row.QuerySelector("[data-test=compare-monthly-saving]")!.GetAttribute("data-micros"));
        Assert.DoesNotContain(page.FindAll("[data-test=compare-traffic] tbody tr"), r => r.Children[0].TextContent.Trim() == EvalRunJob.Feature);
    }

    [Fact]
    public async Task RunsOfDifferentSets_OrNoRuns_AnswerWithAMessage()
    {
        var one = await SetAsync(DemoData.AcmeId, 1);
        var other = await SetAsync(DemoData.AcmeId, 1);
        var a = await RunAsync(one.Id, "fast");
        var b = await RunAsync(other.Id, "fast");

        var mixed = RenderAt($"/evals/compare?a={a.Id}&b={b.Id}");
        mixed.WaitForAssertion(() => Assert.Contains("different eval sets", mixed.Find("[data-test=compare-error]").TextContent, StringComparison.Ordinal), Wait);
        var garbage = RenderAt("/evals/compare?a=nope");

        garbage.WaitForAssertion(() => Assert.Contains("Pick two runs", garbage.Find("[data-test=compare-error]").TextContent, StringComparison.Ordinal), Wait);
    }

    /// <summary>The page at <paramref name="url"/> (its query parameters come from the address, as in the browser).</summary>
    private IRenderedComponent<EvalComparePage> RenderAt(string url)
    {
        Services.GetRequiredService<NavigationManager>().NavigateTo(url);
        return Render<EvalComparePage>();
    }

    [Theory]
    [InlineData(new int[0], 0.5, null)]
    [InlineData(new[] { 10 }, 0.95, 10)]
    [InlineData(new[] { 10, 20, 30, 40 }, 0.5, 20)]
    [InlineData(new[] { 10, 20, 30, 40 }, 0.95, 40)]
    public void Percentile_NearestRank(int[] sorted, double p, int? expected) => Assert.Equal(expected, EvalCompare.Percentile(sorted, p));
}
