using System.Security.Claims;
using System.Text.Json;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Data.Prompts;
using Keystone.Gateway;
using Keystone.Gateway.Providers;
using Keystone.Web.Features.Evals;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// Drift on one database, over real runs on the real gateway and simulated provider (issue 23, item 2): the prompt
/// <c>reply</c> (v1 active globally, alias <c>fast</c>) has a global set whose examples expect exactly the simulated
/// provider's undrifted answers, so a run scores 100 until the provider's <c>Drift</c> setting changes its answers,
/// after which every example fails. Also the per-prompt tolerance (item 1) and the trend query (item 3).
/// </summary>
public abstract class EvalDriftTests : IAsyncLifetime
{
    private const string EditorId = "editor-drift";
    private static readonly string[] Questions = ["What are your hours?", "Do you ship abroad?", "Can I pay by invoice?"];
    private EvalRunHarness _h = default!;
    private AsyncServiceScope _scope;

    protected abstract string Provider { get; }

    public async Task InitializeAsync()
    {
        _h = await EvalRunHarness.CreateAsync(Provider);
        _scope = _h.Services.CreateAsyncScope();
        SignIn(_scope, EditorId, Roles.PromptEditor, null);
    }

    public async Task DisposeAsync()
    {
        SetDrift(0);
        await _scope.DisposeAsync();
        await _h.DisposeAsync();
    }

    private static void SignIn(AsyncServiceScope scope, string id, string role, Guid? tenantId)
    {
        var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, id), new(ClaimTypes.Email, $"{id}@example.test"), new(ClaimTypes.Role, role) };
        if (tenantId is { } t)
        {
            claims.Add(new Claim(KeystoneClaims.TenantId, t.ToString()));
        }

        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(claims, "test")));
    }

    /// <summary>The simulated provider's drift knob (the same options object the provider reads on every call).</summary>
    private void SetDrift(int drift) => _h.Services.GetRequiredService<ProviderRegistry>().Find("sim")!.Options.Simulated.Drift = drift;

    /// <summary>The global set of <c>reply</c>, each example expecting exactly what the undrifted provider answers with version 1.</summary>
    private async Task<EvalSetRow> ExactSetAsync()
    {
        await using var db = _h.Factory.ForSystem();
        var version = await db.PromptVersions.AsNoTracking().SingleAsync(v => v.Id == _h.PromptVersionId);
        var tenant = await db.Tenants.AsNoTracking().OrderBy(t => t.Name).Select(t => t.Id).FirstAsync();
        var gateway = _h.Services.GetRequiredService<ILlmGateway>();
        var set = await _h.Sets.CreateSetAsync("reply", null, null, CancellationToken.None);
        foreach (var q in Questions)
        {
            var variables = new Dictionary<string, string> { ["question"] = q };
            var request = EvalRunJob.RequestOf(new EvalRun { Alias = version.ModelAlias }, version, new EvalExampleInput(variables, null, null, null, null));
            var answer = await gateway.CompleteAsync(request, new CallContext { TenantId = tenant, Feature = "test" }, CancellationToken.None);
            await _h.Sets.AddExampleAsync(set.Id, new EvalExampleInput(variables, null, answer.Text, [new EvalExpectation(EvalExpectation.Exact, answer.Text)], null),
                "editor", CancellationToken.None);
        }

        return set;
    }

    /// <summary>Queues a run of the set on the active version (as the nightly job does) and runs it to its end, as Hangfire would.</summary>
    private async Task<EvalRunView> RunAsync(Guid setId, EvalRunTrigger trigger = EvalRunTrigger.Schedule, string? alias = null, int? version = null)
    {
        var run = await _h.Store.CreateAsync(new EvalRunRequest(setId, version, alias, trigger), new EvalRunStarter("schedule", "nightly schedule"), CancellationToken.None);
        await _h.Job.RunAsync(run.Id, CancellationToken.None);
        return (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
    }

    private async Task<List<EvalDriftAlert>> AlertsAsync()
    {
        await using var db = _h.Factory.ForSystem();
        return await db.EvalDriftAlerts.AsNoTracking().OrderBy(a => a.CreatedUtc).ToListAsync();
    }

    private EvalDriftAlerts Alerts(AsyncServiceScope scope)
    {
        var sp = scope.ServiceProvider;
        var catalog = new PromptCatalog(_h.Factory, sp.GetRequiredService<TenantContext>(), sp.GetRequiredService<AuditLog>(), TimeProvider.System);
        return new EvalDriftAlerts(_h.Factory, sp.GetRequiredService<TenantContext>(), catalog, sp.GetRequiredService<AuditLog>(),
            sp.GetRequiredService<ConsoleNotificationSignal>(), TimeProvider.System);
    }

    private static EvalTolerances Tolerances(AsyncServiceScope scope) => scope.ServiceProvider.GetRequiredService<EvalTolerances>();

    private async Task<Guid> AddVersionAsync(int number, string user)
    {
        await using var db = _h.Factory.ForSystem();
        var promptId = await db.Prompts.Where(p => p.Name == "reply").Select(p => p.Id).SingleAsync();
        var version = new PromptVersion
        {
            Id = Guid.NewGuid(), PromptId = promptId, Number = number, SystemTemplate = "Answer briefly.", UserTemplate = user,
            ModelAlias = "fast", CreatedByUserId = EditorId, CreatedUtc = DateTime.UtcNow,
        };
        db.PromptVersions.Add(version);
        await db.SaveChangesAsync();
        return version.Id;
    }

    private async Task<int?> ActiveGlobalAsync()
    {
        await using var db = _h.Factory.ForSystem();
        var promptId = await db.Prompts.Where(p => p.Name == "reply").Select(p => p.Id).SingleAsync();
        var id = await PromptRenderer.ActiveVersionIdAsync(db, promptId, null, CancellationToken.None);
        return await db.PromptVersions.Where(v => v.Id == id).Select(v => (int?)v.Number).SingleOrDefaultAsync();
    }

    [Fact]
    public async Task NoDrift_LaterRunsMatchTheBaseline_RaiseNoAlert()
    {
        var set = await ExactSetAsync();

        var first = await RunAsync(set.Id);
        var second = await RunAsync(set.Id);

        Assert.Equal((100.0, 100.0), (first.ScorePoints, second.ScorePoints));
        Assert.Empty(await AlertsAsync());
        await using var db = _h.Factory.ForSystem();
        var baseline = await db.EvalBaselines.AsNoTracking().SingleAsync();
        Assert.Equal((first.Id, EvalDriftMonitor.FromFirstRun, 100.0), (baseline.RunId, baseline.Source, baseline.ScorePoints));
    }

    [Fact]
    public async Task ProviderDrift_RaisesOneOpenAlert_NamingVersionAliasModelAndTheChangedExamples_Audited()
    {
        var set = await ExactSetAsync();
        var baseline = await RunAsync(set.Id);
        SetDrift(7);

        var drifted = await RunAsync(set.Id);
        var again = await RunAsync(set.Id, EvalRunTrigger.Manual);

        Assert.Equal(0.0, drifted.ScorePoints);
        var alert = Assert.Single(await AlertsAsync());
        Assert.Equal(EvalDriftStatus.Open, alert.Status);
        Assert.Equal(("reply", 1, "fast", "sim/sim-fast"), (alert.PromptName, alert.VersionNumber, alert.Alias, alert.Model));
        Assert.Equal((baseline.Id, drifted.Id), (alert.BaselineRunId, alert.RunId));
        Assert.Equal((100.0, 0.0, 5.0), (alert.BaselineScorePoints, alert.ScorePoints, alert.TolerancePoints));
        Assert.Null(alert.TenantId);
        var changed = JsonSerializer.Deserialize<List<EvalDriftExample>>(alert.ChangedExamplesJson, EvalDriftAlerts.Json)!;
        Assert.Equal(Questions.Length, changed.Count);
        Assert.All(changed, c => Assert.Equal((1.0, 0.0, true, false), (c.Before, c.After, c.PassedBefore, c.PassedAfter)));
        Assert.Equal(0.0, again.ScorePoints); // still drifted: the open alert already says so, no second one
        await using var db = _h.Factory.ForSystem();
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "eval.drift");
        Assert.Equal(("system", "prompt:reply"), (audit.ActorType, audit.Target));
        Assert.Contains(alert.Id.ToString(), audit.MetadataJson!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProviderDrift_WithinThePromptsOwnTolerance_RaisesNoAlert()
    {
        var set = await ExactSetAsync();
        await Tolerances(_scope).SetAsync("reply", null, 100, CancellationToken.None);
        await RunAsync(set.Id);
        SetDrift(7);

        var drifted = await RunAsync(set.Id);

        Assert.Equal(0.0, drifted.ScorePoints);
        Assert.Empty(await AlertsAsync());
    }

    [Fact]
    public async Task RunOnAnotherAlias_IsAComparison_NotDrift()
    {
        var set = await ExactSetAsync();
        await RunAsync(set.Id);
        SetDrift(7);

        var smart = await RunAsync(set.Id, EvalRunTrigger.Manual, alias: "smart");

        Assert.Equal(0.0, smart.ScorePoints);
        Assert.Empty(await AlertsAsync());
        await using var db = _h.Factory.ForSystem();
        Assert.DoesNotContain(await db.EvalBaselines.Select(b => b.RunId).ToListAsync(), id => id == smart.Id);
    }

    [Fact]
    public async Task Acknowledge_ClosesTheAlert_Audited_Once_AndALaterDriftAlertsAgain()
    {
        var set = await ExactSetAsync();
        await RunAsync(set.Id);
        SetDrift(7);
        await RunAsync(set.Id);
        var alerts = Alerts(_scope);
        var alert = Assert.Single(await alerts.ListAsync("reply", openOnly: true, 10, CancellationToken.None));

        var first = await alerts.AcknowledgeAsync(alert.Id, CancellationToken.None);
        var second = await alerts.AcknowledgeAsync(alert.Id, CancellationToken.None);
        var openAfter = await alerts.ListAsync(null, openOnly: true, 10, CancellationToken.None);
        await RunAsync(set.Id, EvalRunTrigger.Manual);

        Assert.True(first);
        Assert.False(second);
        Assert.Empty(openAfter);
        var rows = await AlertsAsync();
        Assert.Equal([EvalDriftStatus.Acknowledged, EvalDriftStatus.Open], rows.Select(r => r.Status));
        Assert.Equal(EditorId, rows[0].HandledByUserId);
        await using var db = _h.Factory.ForSystem();
        Assert.Equal(1, await db.AuditLog.CountAsync(a => a.Action == "eval.drift.acknowledge"));
    }

    [Fact]
    public async Task Rollback_FromTheAlert_ActivatesThePreviousVersion_ClosesTheAlert_Audited_AndOnlyOnce()
    {
        var set = await ExactSetAsync();
        await AddVersionAsync(2, "{{question}}");
        var sp = _scope.ServiceProvider;
        var catalog = new PromptCatalog(_h.Factory, sp.GetRequiredService<TenantContext>(), sp.GetRequiredService<AuditLog>(), TimeProvider.System);
        await catalog.ActivateAsync("reply", 2, null, CancellationToken.None);
        var baseline = await RunAsync(set.Id);
        SetDrift(7);
        await RunAsync(set.Id);
        var alerts = Alerts(_scope);
        var alert = Assert.Single(await alerts.ListAsync("reply", openOnly: true, 10, CancellationToken.None));

        var now = await alerts.RollbackAsync(alert.Id, CancellationToken.None);
        var twice = await Assert.ThrowsAsync<EvalException>(() => alerts.RollbackAsync(alert.Id, CancellationToken.None));

        Assert.Equal(2, alert.VersionNumber);
        Assert.Equal(baseline.Id, alert.BaselineRunId);
        Assert.Equal(1, now);
        Assert.Equal(1, await ActiveGlobalAsync());
        Assert.Equal(EvalException.Conflict, twice.Code);
        var row = Assert.Single(await AlertsAsync());
        Assert.Equal((EvalDriftStatus.RolledBack, (int?)1, (string?)null), (row.Status, row.RolledBackToVersion, row.OpenKey));
        await using var db = _h.Factory.ForSystem();
        Assert.Equal(1, await db.AuditLog.CountAsync(a => a.Action == "eval.drift.rollback"));
        Assert.Equal(1, await db.AuditLog.CountAsync(a => a.Action == "prompt.rollback"));
    }

    [Fact]
    public async Task Alerts_AreSeenByTheirOwners_ATenantAdminOnlyTheirOverrides_AndOnlyEditorsRollBack()
    {
        var set = await ExactSetAsync();
        await RunAsync(set.Id);
        SetDrift(7);
        await RunAsync(set.Id);
        await using var admin = _h.Services.CreateAsyncScope();
        SignIn(admin, "acme-admin", Roles.TenantAdmin, DemoData.AcmeId);
        await using var member = _h.Services.CreateAsyncScope();
        SignIn(member, "acme-member", Roles.TenantMember, DemoData.AcmeId);
        var global = Assert.Single(await AlertsAsync());

        var editorSees = await Alerts(_scope).ListAsync(null, openOnly: true, 10, CancellationToken.None);
        var adminSees = await Alerts(admin).ListAsync(null, openOnly: true, 10, CancellationToken.None);
        var memberSees = await Alerts(member).ListAsync(null, openOnly: true, 10, CancellationToken.None);
        var adminRollback = await Assert.ThrowsAsync<EvalException>(() => Alerts(admin).RollbackAsync(global.Id, CancellationToken.None));

        Assert.Single(editorSees);
        Assert.Empty(adminSees); // a global prompt's drift belongs to the platform's prompt owners
        Assert.Empty(memberSees);
        Assert.Null(await Alerts(admin).GetAsync(global.Id, CancellationToken.None));
        Assert.Equal(EvalException.Forbidden, adminRollback.Code);
    }

    [Fact]
    public async Task GateActivation_KeepsTheGateRunAsTheBaseline()
    {
        await ExactSetAsync();
        await AddVersionAsync(2, "{{question}}");
        var sp = _scope.ServiceProvider;
        var catalog = new PromptCatalog(_h.Factory, sp.GetRequiredService<TenantContext>(), sp.GetRequiredService<AuditLog>(), TimeProvider.System);
        var gate = new EvalActivationGate(_h.Factory, sp.GetRequiredService<EvalRunner>(), catalog, sp.GetRequiredService<EvalDriftMonitor>(),
            sp.GetRequiredService<AuditLog>(), Options.Create(new EvalsOptions()), TimeProvider.System);
        await gate.CheckAsync("reply", 2, null, startRuns: true, CancellationToken.None);
        while (_h.Queue.Enqueued.TryDequeue(out var id))
        {
            await _h.Job.RunAsync(id, CancellationToken.None);
        }

        var check = await gate.ActivateAsync("reply", 2, null, null, CancellationToken.None);

        Assert.Equal(ActivationGateVerdict.Allowed, check.Verdict);
        await using var db = _h.Factory.ForSystem();
        var baseline = await db.EvalBaselines.AsNoTracking().Where(b => b.VersionNumber == 2).SingleAsync();
        Assert.Equal((check.Candidate!.RunId!.Value, EvalDriftMonitor.FromGate, 100.0), (baseline.RunId, baseline.Source, baseline.ScorePoints));
    }

    [Fact]
    public async Task Tolerance_OutsideZeroToHundred_OrFromANonEditor_IsRefused_AndAValidOneIsAudited()
    {
        var tolerances = Tolerances(_scope);
        await using var member = _h.Services.CreateAsyncScope();
        SignIn(member, "acme-admin", Roles.TenantAdmin, DemoData.AcmeId);

        var low = await Assert.ThrowsAsync<EvalException>(() => tolerances.SetAsync("reply", null, -1, CancellationToken.None));
        var high = await Assert.ThrowsAsync<EvalException>(() => tolerances.SetAsync("reply", null, 100.5, CancellationToken.None));
        var nan = await Assert.ThrowsAsync<EvalException>(() => tolerances.SetAsync("reply", null, double.NaN, CancellationToken.None));
        var forbidden = await Assert.ThrowsAsync<EvalException>(() => Tolerances(member).SetAsync("reply", null, 3, CancellationToken.None));
        var unknown = await Assert.ThrowsAsync<EvalException>(() => tolerances.SetAsync("no-such-prompt", null, 3, CancellationToken.None));
        var before = await tolerances.GetAsync("reply", DemoData.AcmeId, CancellationToken.None);
        var global = await tolerances.SetAsync("reply", null, 8, CancellationToken.None);
        var followed = await tolerances.GetAsync("reply", DemoData.AcmeId, CancellationToken.None);
        var own = await tolerances.SetAsync("reply", DemoData.AcmeId, 2.5, CancellationToken.None);
        var cleared = await tolerances.SetAsync("reply", DemoData.AcmeId, null, CancellationToken.None);

        Assert.Equal([EvalException.Invalid, EvalException.Invalid, EvalException.Invalid, EvalException.Forbidden, EvalException.NotFound],
            new[] { low.Code, high.Code, nan.Code, forbidden.Code, unknown.Code });
        Assert.Contains("between 0 and 100", low.Message, StringComparison.Ordinal);
        Assert.Equal(new EvalToleranceValue(5, EvalToleranceSource.Default), before);
        Assert.Equal(new EvalToleranceValue(8, EvalToleranceSource.Prompt), global);
        Assert.Equal(new EvalToleranceValue(8, EvalToleranceSource.Prompt), followed);
        Assert.Equal(new EvalToleranceValue(2.5, EvalToleranceSource.Tenant), own);
        Assert.Equal(new EvalToleranceValue(8, EvalToleranceSource.Prompt), cleared);
        await using var db = _h.Factory.ForSystem();
        var entries = await db.AuditLog.AsNoTracking().Where(a => a.Action == "prompt.eval_tolerance").OrderBy(a => a.Id).ToListAsync();
        Assert.Equal(3, entries.Count);
        Assert.Equal(DemoData.AcmeId, entries[1].TenantId);
        Assert.Contains("\"before\":8", entries[1].MetadataJson!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gate_HonoursThePromptsToleranceForTheScope()
    {
        await _h.SetAsync(null, "What are your hours?", "Do you ship abroad?");
        await AddVersionAsync(2, "{{question}} [sim:fail=500]");
        var sp = _scope.ServiceProvider;
        var catalog = new PromptCatalog(_h.Factory, sp.GetRequiredService<TenantContext>(), sp.GetRequiredService<AuditLog>(), TimeProvider.System);
        var gate = new EvalActivationGate(_h.Factory, sp.GetRequiredService<EvalRunner>(), catalog, sp.GetRequiredService<EvalDriftMonitor>(),
            sp.GetRequiredService<AuditLog>(), Options.Create(new EvalsOptions { GateTolerancePoints = 5 }), TimeProvider.System);
        await gate.CheckAsync("reply", 2, null, startRuns: true, CancellationToken.None);
        await gate.CheckAsync("reply", 2, DemoData.AcmeId, startRuns: true, CancellationToken.None);
        while (_h.Queue.Enqueued.TryDequeue(out var id))
        {
            await _h.Job.RunAsync(id, CancellationToken.None);
        }

        await Tolerances(_scope).SetAsync("reply", DemoData.AcmeId, 100, CancellationToken.None);
        var global = await gate.CheckAsync("reply", 2, null, startRuns: false, CancellationToken.None);
        var acme = await gate.CheckAsync("reply", 2, DemoData.AcmeId, startRuns: false, CancellationToken.None);

        Assert.Equal((ActivationGateVerdict.Blocked, 5.0), (global.Verdict, global.TolerancePoints));
        Assert.Equal((ActivationGateVerdict.Allowed, 100.0), (acme.Verdict, acme.TolerancePoints));
        Assert.Contains("tolerance of 100 points", acme.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trend_HasTheVersionsOwnAliasRunsInOrder_WithTheActivationAndTheDrift()
    {
        var set = await ExactSetAsync();
        var first = await RunAsync(set.Id);
        await RunAsync(set.Id, EvalRunTrigger.Manual, alias: "smart");
        SetDrift(7);
        var drifted = await RunAsync(set.Id);
        var query = new EvalTrendQuery(_h.Factory, TimeProvider.System);

        var trend = await query.ReadAsync("reply", null, 30, CancellationToken.None);
        var acme = await query.ReadAsync("reply", DemoData.AcmeId, 30, CancellationToken.None);

        Assert.Equal([first.Id, drifted.Id], trend.Points.Select(p => p.RunId));
        Assert.Equal([100.0, 0.0], trend.Points.Select(p => p.ScorePoints));
        Assert.All(trend.Points, p => Assert.Equal(1, p.Version));
        Assert.Equal((int?)1, Assert.Single(trend.Activations).Version);
        Assert.Equal(drifted.Id, Assert.Single(trend.Drifts).RunId);
        Assert.Empty(acme.Points);
    }

    private EvalActivationGate Gate()
    {
        var sp = _scope.ServiceProvider;
        var catalog = new PromptCatalog(_h.Factory, sp.GetRequiredService<TenantContext>(), sp.GetRequiredService<AuditLog>(), TimeProvider.System);
        return new EvalActivationGate(_h.Factory, sp.GetRequiredService<EvalRunner>(), catalog, sp.GetRequiredService<EvalDriftMonitor>(),
            sp.GetRequiredService<AuditLog>(), Options.Create(new EvalsOptions { GateTolerancePoints = 5 }), TimeProvider.System);
    }

    private async Task DrainAsync()
    {
        while (_h.Queue.Enqueued.TryDequeue(out var id))
        {
            await _h.Job.RunAsync(id, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Gate_AfterADrift_ComparesWithTheBaseline_SoADriftedLatestRunDoesNotLowerTheBar()
    {
        var set = await ExactSetAsync();
        var baseline = await RunAsync(set.Id);
        SetDrift(7);
        var drifted = await RunAsync(set.Id);
        await AddVersionAsync(2, "{{question}}");
        var gate = Gate();
        await gate.CheckAsync("reply", 2, null, startRuns: true, CancellationToken.None);
        await DrainAsync();

        var check = await gate.CheckAsync("reply", 2, null, startRuns: false, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<PromptException>(() => gate.ActivateAsync("reply", 2, null, null, CancellationToken.None));

        // v2 answers as drifted as v1 does now (0); against v1's latest run (0) it would pass, against the baseline (100) it may not.
        Assert.Equal(0.0, drifted.ScorePoints);
        Assert.Equal(ActivationGateVerdict.Blocked, check.Verdict);
        Assert.Equal((0.0, 100.0), (check.Candidate!.ScorePoints, check.Active!.ScorePoints));
        Assert.Equal((baseline.Id, "baseline"), (check.Active.RunId!.Value, check.Active.Status));
        Assert.Contains("its baseline at activation", check.Message, StringComparison.Ordinal);
        Assert.Contains("write why", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, await ActiveGlobalAsync());
    }

    [Fact]
    public async Task Gate_WithoutABaseline_KeepsComparingWithTheActiveVersionsLatestDoneRun()
    {
        var set = await ExactSetAsync();
        await RunAsync(set.Id);
        SetDrift(7);
        var drifted = await RunAsync(set.Id);
        await using (var db = _h.Factory.ForSystem())
        {
            // As for a set added after the activation was measured: no baseline for it.
            await db.EvalBaselines.ExecuteDeleteAsync();
        }

        await AddVersionAsync(2, "{{question}}");
        var gate = Gate();
        await gate.CheckAsync("reply", 2, null, startRuns: true, CancellationToken.None);
        await DrainAsync();

        var check = await gate.CheckAsync("reply", 2, null, startRuns: false, CancellationToken.None);

        Assert.Equal(ActivationGateVerdict.Allowed, check.Verdict);
        Assert.Equal((drifted.Id, "done", 0.0), (check.Active!.RunId!.Value, check.Active.Status, check.Active.ScorePoints!.Value));
        Assert.DoesNotContain("baseline", check.Message, StringComparison.Ordinal);
    }
}

public sealed class SqliteEvalDriftTests : EvalDriftTests
{
    protected override string Provider => "sqlite";
}

public sealed class PostgresEvalDriftTests : EvalDriftTests
{
    protected override string Provider => "postgres";
}
