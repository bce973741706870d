using Bunit;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Web.Features.Evals;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;
using Keystone.Web.Tests.Hosting;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// The prompt page's activate dialog with the gate, over the real app (SQLite, audit, the evals feature's gate): a prompt
/// whose set has a fresh done run for both versions, v2 scoring well below v1. The gate reuses those runs (no new run),
/// so the dialog shows both scores and blocks at once.
/// </summary>
public sealed class ActivationGateDialogTests : KeystoneComponentTest, IClassFixture<AppFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private readonly AppFixture _fixture;
    private readonly AsyncServiceScope _scope;

    public ActivationGateDialogTests(AppFixture fixture)
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

    /// <summary>A finished run as the run job leaves it (totals of its results): <paramref name="passed"/> of 2 examples passed, each scoring 1 or 0.</summary>
    private static EvalRun DoneRun(EvalSetRow set, Guid versionId, int number, int passed, long cost, DateTime now) => new()
    {
        Id = Guid.NewGuid(), TenantId = null, BillingTenantId = DemoData.AcmeId, SetId = set.Id, SetName = set.Name, PromptName = set.Name,
        PromptVersionId = versionId, PromptVersionNumber = number, Alias = "smart", Status = EvalRunStatus.Done, Trigger = EvalRunTrigger.Manual,
        ExampleIdsJson = "[]", Total = 2, Completed = 2, Passed = passed, ScoreSum = passed, CostMicros = cost, StartedByUserId = "editor",
        CreatedUtc = now.AddMinutes(-5), StartedUtc = now.AddMinutes(-5), FinishedUtc = now.AddMinutes(-1), HeartbeatUtc = now.AddMinutes(-1),
    };

    [Fact]
    public async Task ActivateGlobally_WorseVersion_DialogShowsBothScoresAndBlocks_UntilAReasonIsWritten()
    {
        var (name, v1, v2) = await CreateTwoVersionPromptAsync(_fixture.App);
        var sets = _scope.ServiceProvider.GetRequiredService<EvalSetStore>();
        var set = await sets.CreateSetAsync(name, null, null, CancellationToken.None);
        await sets.AddExampleAsync(set.Id, EvalRunHarness.Example("What are your hours?"), "editor", CancellationToken.None);
        var now = _fixture.App.Services.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime;
        await using (var db = _fixture.App.CreateSystemDb())
        {
            db.EvalRuns.AddRange(DoneRun(set, v1.Id, 1, passed: 2, cost: 43_000, now), DoneRun(set, v2.Id, 2, passed: 1, cost: 7_000, now));
            await db.SaveChangesAsync();
        }

        var dialogs = Render<MudDialogProvider>();
        Services.GetRequiredService<NavigationManager>().NavigateTo($"/prompts/{name}?version=2");
        var page = Render<PromptDetailPage>(p => p.Add(x => x.Name, name));
        page.WaitForElement("[data-test=version-view]", Wait);
        page.Find("[data-test=activate-global]").Click();

        dialogs.WaitForAssertion(() => Assert.Equal("blocked", dialogs.Find("[data-test=gate-verdict]").GetAttribute("data-verdict")), Wait);
        Assert.Equal(("50.0", "100.0"), (dialogs.Find("[data-test=gate-score-candidate]").TextContent, dialogs.Find("[data-test=gate-score-active]").TextContent));
        Assert.Contains("50.0 points below version 1", dialogs.Find("[data-test=gate-verdict]").TextContent, StringComparison.Ordinal);
        Assert.Empty(dialogs.FindAll("[data-test=gate-activate]"));
        Assert.True(dialogs.Find("[data-test=gate-override]").HasAttribute("disabled"));

        dialogs.Find("[data-test=gate-reason]").Input("Legal asked for this wording today.");
        dialogs.WaitForAssertion(() => Assert.False(dialogs.Find("[data-test=gate-override]").HasAttribute("disabled")), Wait);
        dialogs.Find("[data-test=gate-override]").Click();

        page.WaitForAssertion(() => Assert.Contains("overriding the gate", page.Find("[data-test=prompt-message]").TextContent, StringComparison.Ordinal), Wait);
        await using var check = _fixture.App.CreateSystemDb();
        Assert.Equal(2, await check.EvalRuns.CountAsync(r => r.SetId == set.Id)); // the fresh runs were reused
        var audit = await check.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "prompt.activate.gate_override" && a.Target == $"prompt:{name}");
        Assert.Contains("Legal asked for this wording today.", audit.MetadataJson, StringComparison.Ordinal);
    }
}
