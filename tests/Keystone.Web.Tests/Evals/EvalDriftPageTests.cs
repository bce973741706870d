using Bunit;
using Keystone.Web.Components.Layout;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Data.Prompts;
using Keystone.Web.Features.Evals;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// The drift alert page, the prompt page's eval panel (tolerance, alerts, trend) and the notification bell, over the real
/// app (SQLite): alerts are stored rows of a prompt made for the test, acted on through the real services.
/// </summary>
public sealed class EvalDriftPageTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    // A bound for the page's database round trips on a busy machine, not a speed assertion.
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public EvalDriftPageTests(AppFixture fixture)
    {
        _fixture = fixture;
        _scope = ScopeAs(fixture.App, Roles.PromptEditor, "product@keystone.demo");
        var sp = _scope.ServiceProvider;
        Services.AddSingleton(sp.GetRequiredService<TenantContext>());
        Services.AddSingleton(sp.GetRequiredService<EvalDriftAlerts>());
        Services.AddSingleton<IConsoleNotificationSource>(sp.GetRequiredService<EvalDriftAlerts>());
        Services.AddSingleton(sp.GetRequiredService<EvalTolerances>());
        Services.AddSingleton(sp.GetRequiredService<EvalTrendQuery>());
        Services.AddSingleton(sp.GetRequiredService<PromptCatalog>());
        Services.AddSingleton(sp.GetRequiredService<ConsoleNotificationSignal>());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _scope.DisposeAsync();
    }

    /// <summary>A new prompt with v1 then v2 active globally, a set, a baseline run of v2 (100) and a drifted one (40), and an open alert between them.</summary>
    private async Task<(string Prompt, EvalDriftAlert Alert)> DriftedPromptAsync()
    {
        var (name, _, v2) = await CreateTwoVersionPromptAsync(_fixture.App);
        await _scope.ServiceProvider.GetRequiredService<PromptCatalog>().ActivateAsync(name, 2, null, CancellationToken.None);
        await using var db = _fixture.App.CreateSystemDb();
        var promptId = await db.Prompts.Where(p => p.Name == name).Select(p => p.Id).SingleAsync();
        var activation = await db.PromptActivations.Where(a => a.PromptId == promptId).OrderByDescending(a => a.Id).FirstAsync();
        var set = new EvalSet { Id = Guid.NewGuid(), Name = name, PromptName = name, OwnerKey = EvalSet.OwnerKeyOf(null), CreatedUtc = DateTime.UtcNow };
        db.EvalSets.Add(set);
        var example = Guid.NewGuid();
        var billing = await db.Tenants.Select(t => t.Id).FirstAsync();
        var baseline = Run(set, v2, billing, 1.0, DateTime.UtcNow.AddDays(-2));
        var drifted = Run(set, v2, billing, 0.4, DateTime.UtcNow.AddHours(-1));
        db.EvalRuns.AddRange(baseline, drifted);
        var alert = new EvalDriftAlert
        {
            Id = Guid.NewGuid(), PromptName = name, PromptVersionId = v2.Id, VersionNumber = 2, ActivationId = activation.Id, Alias = "smart",
            Model = "sim/sim-smart", SetId = set.Id, SetName = name, BaselineRunId = baseline.Id, RunId = drifted.Id, BaselineScorePoints = 100,
            ScorePoints = 40, TolerancePoints = 5, Status = EvalDriftStatus.Open, OpenKey = EvalDriftMonitor.OpenKeyOf(name, null, v2.Id),
            ChangedExamplesJson = $$"""[{"exampleId":"{{example}}","before":1,"after":0.4,"passedBefore":true,"passedAfter":false}]""",
            CreatedUtc = DateTime.UtcNow,
        };
        db.EvalDriftAlerts.Add(alert);
        await db.SaveChangesAsync();
        return (name, alert);
    }

    private static EvalRun Run(EvalSet set, PromptVersion version, Guid billing, double score, DateTime at) => new()
    {
        Id = Guid.NewGuid(), SetId = set.Id, SetName = set.Name, PromptName = set.PromptName, PromptVersionId = version.Id, PromptVersionNumber = version.Number,
        Alias = version.ModelAlias, BillingTenantId = billing, Status = EvalRunStatus.Done, Trigger = EvalRunTrigger.Schedule, Total = 1, Completed = 1,
        ScoreSum = score, Passed = score >= 0.7 ? 1 : 0, StartedByUserId = "schedule", CreatedUtc = at, StartedUtc = at, FinishedUtc = at.AddSeconds(30),
    };

    [Fact]
    public async Task AlertPage_NamesTheEvidence_LinksTheDiff_AndAcknowledgeClosesIt()
    {
        var (name, alert) = await DriftedPromptAsync();

        var page = Render<EvalDriftPage>(p => p.Add(x => x.Id, alert.Id));
        page.WaitForElement("[data-test=drift-title]", Wait);

        Assert.Equal($"Drift: {name} v2", page.Find("[data-test=drift-title]").TextContent.Trim());
        Assert.Contains("smart (sim/sim-smart)", page.Find("[data-test=drift-subject]").TextContent, StringComparison.Ordinal);
        Assert.Contains("scored 40.0 against its baseline of 100.0", page.Find("[data-test=drift-summary]").TextContent, StringComparison.Ordinal);
        Assert.Equal($"/evals/compare?a={alert.BaselineRunId}&b={alert.RunId}", page.Find("[data-test=drift-compare]").GetAttribute("href"));
        Assert.Single(page.FindAll("[data-test=drift-example]"));
        page.Find("[data-test=drift-acknowledge]").Click();
        page.WaitForAssertion(() => Assert.Equal("acknowledged", page.Find("[data-test=drift-status]").TextContent.Trim()), Wait);
        Assert.Empty(page.FindAll("[data-test=drift-acknowledge]"));
        await using var db = _fixture.App.CreateSystemDb();
        Assert.Equal(EvalDriftStatus.Acknowledged, (await db.EvalDriftAlerts.AsNoTracking().SingleAsync(a => a.Id == alert.Id)).Status);
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "eval.drift.acknowledge" && a.Target == $"prompt:{name}"));
    }

    [Fact]
    public async Task AlertPage_RollbackInOneClick_ActivatesThePreviousVersion()
    {
        var (name, alert) = await DriftedPromptAsync();
        var page = Render<EvalDriftPage>(p => p.Add(x => x.Id, alert.Id));

        page.WaitForElement("[data-test=drift-rollback]", Wait).Click();

        page.WaitForAssertion(() => Assert.Contains("version 1 is active again globally", page.Find("[data-test=drift-message]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal("rolled back", page.Find("[data-test=drift-status]").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-test=drift-rollback]"));
        Assert.Equal(1, (await _scope.ServiceProvider.GetRequiredService<PromptCatalog>().GetAsync(name, CancellationToken.None))!.ActiveGlobalVersion);
    }

    [Fact]
    public async Task AlertPage_ForAnotherTenantsAdmin_ShowsNothing()
    {
        var (_, alert) = await DriftedPromptAsync();
        await using var admin = ScopeAs(_fixture.App, Roles.TenantAdmin, "admin@acme.demo");
        Services.AddSingleton(new EvalDriftAlerts(_fixture.App.Services.GetRequiredService<Keystone.Data.KeystoneDbFactory>(), admin.ServiceProvider.GetRequiredService<TenantContext>(),
            admin.ServiceProvider.GetRequiredService<PromptCatalog>(), admin.ServiceProvider.GetRequiredService<AuditLog>(),
            admin.ServiceProvider.GetRequiredService<ConsoleNotificationSignal>(), TimeProvider.System));

        var page = Render<EvalDriftPage>(p => p.Add(x => x.Id, alert.Id));

        page.WaitForElement("[data-test=drift-not-found]", Wait);
        Assert.Empty(page.FindAll("[data-test=drift-rollback]"));
    }

    [Fact]
    public async Task PromptPanel_ToleranceIsValidated_Saved_AndTheTrendAndAlertShow()
    {
        var (name, _) = await DriftedPromptAsync();
        var panel = Render<EvalPromptPanel>(p => p.Add(x => x.PromptName, name));
        panel.WaitForAssertion(() => Assert.Contains("5 points (default)", panel.Find("[data-test=tolerance-value]").TextContent, StringComparison.Ordinal), Wait);

        panel.Find("input[data-test=tolerance-input], [data-test=tolerance-input] input").Change("150");
        panel.Find("[data-test=tolerance-save]").Click();
        panel.WaitForAssertion(() => Assert.Contains("between 0 and 100", panel.Find("[data-test=tolerance-error]").TextContent, StringComparison.Ordinal), Wait);
        panel.Find("input[data-test=tolerance-input], [data-test=tolerance-input] input").Change("7.5");
        panel.Find("[data-test=tolerance-save]").Click();

        panel.WaitForAssertion(() => Assert.Contains("7.5 points (the prompt's)", panel.Find("[data-test=tolerance-value]").TextContent, StringComparison.Ordinal), Wait);
        Assert.Equal(7.5, (await _scope.ServiceProvider.GetRequiredService<EvalTolerances>().GetAsync(name, null, CancellationToken.None)).Points);
        Assert.Single(panel.FindAll("[data-test=drift-alert-row]"));
        Assert.Contains("2 runs of v2", panel.Find("[data-test=eval-trend-summary]").TextContent, StringComparison.Ordinal);
        Assert.Contains("1 drift alert", panel.Find("[data-test=eval-trend-summary]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotificationBell_CountsOpenAlerts_AndUpdatesWhenOneIsRaised_WithoutAReload()
    {
        var bell = Render<NotificationBell>();
        bell.WaitForElement("[data-test=notifications-bell]", Wait);
        var before = Count(bell);

        var (_, alert) = await DriftedPromptAsync();
        _scope.ServiceProvider.GetRequiredService<ConsoleNotificationSignal>().Raise();

        bell.WaitForAssertion(() => Assert.Equal(before + 1, Count(bell)), Wait);
        await _scope.ServiceProvider.GetRequiredService<EvalDriftAlerts>().AcknowledgeAsync(alert.Id, CancellationToken.None);
        bell.WaitForAssertion(() => Assert.Equal(before, Count(bell)), Wait);
    }

    private static int Count(IRenderedComponent<NotificationBell> bell) =>
        int.Parse(bell.Find("[data-test=notifications-total]").TextContent.Trim(), System.Globalization.CultureInfo.InvariantCulture);
}
