using Bunit;
using Keystone.Data.Identity;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Evals;

/// <summary>The run start form's batch choice (decision 0049) over the real app: both modes' worst case, batch cheaper.</summary>
public sealed class EvalBatchStartFormTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    public EvalBatchStartFormTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<TenantContext>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<EvalSetEditor>());
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<EvalRunner>());
        // The set page draws a feature set's nightly trend.
        Services.AddSingleton(_scope.ServiceProvider.GetRequiredService<EvalTrendQuery>());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    [Fact]
    public async Task StartForm_OffersBatch_WithTheWorstCaseOfBothModes_TheBatchOneLower()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(_fixture.App);
        var store = _scope.ServiceProvider.GetRequiredService<EvalSetStore>();
        var set = await store.CreateSetAsync(name, null, null, CancellationToken.None);
        await store.AddExampleAsync(set.Id, new EvalExampleInput(new Dictionary<string, string> { ["question"] = "What are your hours?", ["company"] = "Acme" },
            null, null, [new EvalExpectation(EvalExpectation.Regex, "\\S")], null), "editor", CancellationToken.None);
        // The version and model the form picks for the set: the active version (else the newest) and its alias.
        var runner = _scope.ServiceProvider.GetRequiredService<EvalRunner>();
        var (choices, aliases) = (await runner.ChoicesAsync(set.Id, CancellationToken.None))!.Value;
        var alias = choices.DefaultAlias is { } d && aliases.Contains(d) ? d : aliases[0];
        var estimate = (await runner.EstimateAsync(set.Id, choices.ActiveVersion ?? choices.Versions[0], alias, CancellationToken.None))!;

        var page = Render<EvalSetPage>(p => p.Add(x => x.SetId, set.Id));

        page.WaitForAssertion(() => Assert.Contains("as a batch", page.Find("[data-test=run-estimate]").TextContent, StringComparison.Ordinal), Wait);
        Assert.NotNull(page.Find("[data-test=run-mode]"));
        Assert.True(estimate.BatchMicros < estimate.LiveMicros);
        var amounts = page.FindAll("[data-test=run-estimate] .ks-money")
            .Select(e => long.Parse(e.GetAttribute("data-micros")!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal([estimate.LiveMicros, estimate.BatchMicros!.Value], amounts);
    }
}
