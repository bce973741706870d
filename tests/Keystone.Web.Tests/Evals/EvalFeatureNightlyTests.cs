using System.Security.Claims;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Gateway;
using Keystone.Gateway.Providers;
using Keystone.Web.Features.Evals;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// A feature's set run nightly on its chosen alias, and drift for it (docs/decisions/0050), on one database over real
/// runs on the real gateway and simulated provider: Acme's set of the feature <c>checkout</c> expects exactly what the
/// undrifted provider answers on <c>fast</c>, so a run scores 100 until the provider's <c>Drift</c> setting changes its
/// answers. Run on SQLite and PostgreSQL by the subclasses below.
/// </summary>
public abstract class EvalFeatureNightlyTests : IAsyncLifetime
{
    private static readonly string[] Questions = ["Where is my parcel?", "Can I change the delivery address?"];
    private EvalRunHarness _h = default!;
    private AsyncServiceScope _scope;

    protected abstract string Provider { get; }

    public async Task InitializeAsync()
    {
        _h = await EvalRunHarness.CreateAsync(Provider);
        _scope = _h.Services.CreateAsyncScope();
        _scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, "editor-nightly"), new Claim(ClaimTypes.Email, "product@keystone.demo"), new Claim(ClaimTypes.Role, Roles.PromptEditor),
        ], "test")));
    }

    public async Task DisposeAsync()
    {
        SetDrift(0);
        await _scope.DisposeAsync();
        await _h.DisposeAsync();
    }

    private void SetDrift(int drift) => _h.Services.GetRequiredService<ProviderRegistry>().Find("sim")!.Options.Simulated.Drift = drift;

    private EvalSetEditor Editor() => EditorAs(_scope);

    private EvalSetEditor EditorAs(AsyncServiceScope scope)
    {
        var sp = scope.ServiceProvider;
        return new EvalSetEditor(_h.Sets, sp.GetRequiredService<EvalRunner>(), sp.GetRequiredService<TenantContext>(), sp.GetRequiredService<AuditLog>());
    }

    private AsyncServiceScope TenantAdminOf(Guid tenantId)
    {
        var scope = _h.Services.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, $"admin-{tenantId}"), new Claim(ClaimTypes.Role, Roles.TenantAdmin), new Claim(KeystoneClaims.TenantId, tenantId.ToString())], "test")));
        return scope;
    }

    /// <summary>Acme's <c>checkout</c> set: each example's messages and the exact answer the undrifted provider gives on <c>fast</c>.</summary>
    private async Task<EvalSetRow> FeatureSetAsync(string feature = "checkout")
    {
        var set = await _h.Sets.CreateFeatureSetAsync(feature, DemoData.AcmeId, null, CancellationToken.None);
        var gateway = _h.Services.GetRequiredService<ILlmGateway>();
        foreach (var q in Questions)
        {
            var input = new EvalExampleInput(null, [new EvalMessage("user", q)], null, null, null);
            var answer = await gateway.CompleteAsync(EvalRunJob.RequestOf(new EvalRun { Alias = "fast" }, null, input),
                new CallContext { TenantId = DemoData.AcmeId, Feature = "test" }, CancellationToken.None);
            await _h.Sets.AddExampleAsync(set.Id, input with { Expected = answer.Text, Expectations = [new EvalExpectation(EvalExpectation.Exact, answer.Text)] },
                "editor", CancellationToken.None);
        }

        return (await _h.Sets.GetSetAsync(set.Id, CancellationToken.None))!;
    }

    /// <summary>What the nightly job queues (as Hangfire would), run to its end; the run of <paramref name="setId"/>.</summary>
    private async Task<EvalRunView?> NightAsync(Guid setId)
    {
        await _h.Services.GetRequiredService<EvalNightlyJob>().RunAsync(CancellationToken.None);
        EvalRunView? ours = null;
        while (_h.Queue.Enqueued.TryDequeue(out var id))
        {
            await _h.Job.RunAsync(id, CancellationToken.None);
            var run = (await _h.Store.GetAsync(id, CancellationToken.None))!;
            ours = run.SetId == setId ? run : ours;
        }

        // The job skips a set that already ran tonight: clear the "tonight" marker so the next call is the next night.
        await using var db = _h.Factory.ForSystem();
        var yesterday = DateTime.UtcNow.AddDays(-1);
        await db.EvalRuns.Where(r => r.Trigger == EvalRunTrigger.Schedule).ExecuteUpdateAsync(s => s.SetProperty(r => r.CreatedUtc, yesterday));
        return ours;
    }

    private async Task<EvalRunView> ManualAsync(Guid setId, string alias)
    {
        var run = await _h.Store.CreateAsync(new EvalRunRequest(setId, null, alias, EvalRunTrigger.Manual), new EvalRunStarter("editor", null), CancellationToken.None);
        await _h.Job.RunAsync(run.Id, CancellationToken.None);
        return (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
    }

    private async Task<List<EvalDriftAlert>> AlertsAsync()
    {
        await using var db = _h.Factory.ForSystem();
        return await db.EvalDriftAlerts.AsNoTracking().OrderBy(a => a.CreatedUtc).ToListAsync();
    }

    [Fact]
    public async Task Nightly_RunsAFeatureSetOnItsNightlyAlias_AndNotOneWithoutIt()
    {
        var chosen = await FeatureSetAsync();
        var unchosen = await FeatureSetAsync("returns");
        await Editor().SetNightlyAliasAsync(chosen, "fast", CancellationToken.None);

        var queued = await _h.Services.GetRequiredService<EvalNightlyJob>().RunAsync(CancellationToken.None);
        var again = await _h.Services.GetRequiredService<EvalNightlyJob>().RunAsync(CancellationToken.None);

        Assert.Equal((1, 0), (queued, again));
        var runId = Assert.Single(_h.Queue.Enqueued);
        var run = (await _h.Store.GetAsync(runId, CancellationToken.None))!;
        Assert.Equal((chosen.Id, "fast", EvalRunTrigger.Schedule, (int?)null), (run.SetId, run.Alias, run.Trigger, run.Version));
        Assert.Equal(DemoData.AcmeId, run.BillingTenantId);
        await using var db = _h.Factory.ForSystem();
        Assert.False(await db.EvalRuns.AnyAsync(r => r.SetId == unchosen.Id));
    }

    [Fact]
    public async Task FeatureDrift_AlertsAgainstTheFirstNightOnTheAlias_Once_AndAnotherAliasIsAComparison()
    {
        var set = await FeatureSetAsync();
        await Editor().SetNightlyAliasAsync(set, "fast", CancellationToken.None);
        var baseline = await NightAsync(set.Id);
        SetDrift(7);

        var drifted = await NightAsync(set.Id);
        var stillDrifted = await NightAsync(set.Id);
        var smart = await ManualAsync(set.Id, "smart");

        Assert.Equal((100.0, 0.0, 0.0, 0.0), (baseline!.ScorePoints, drifted!.ScorePoints, stillDrifted!.ScorePoints, smart.ScorePoints));
        var alert = Assert.Single(await AlertsAsync());
        Assert.Equal((set.Name, (int?)null, (Guid?)null, (long?)null), (alert.PromptName, alert.VersionNumber, alert.PromptVersionId, alert.ActivationId));
        Assert.Equal((DemoData.AcmeId, "fast", "sim/sim-fast"), (alert.TenantId, alert.Alias, alert.Model));
        Assert.Equal((baseline.Id, drifted.Id, 100.0, 0.0), (alert.BaselineRunId, alert.RunId, alert.BaselineScorePoints, alert.ScorePoints));
        Assert.Equal(EvalDriftStatus.Open, alert.Status);
        await using var db = _h.Factory.ForSystem();
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "eval.drift");
        Assert.Equal(($"eval_set:{set.Id}", DemoData.AcmeId), (audit.Target, audit.TenantId));
    }

    [Fact]
    public async Task ChangingTheNightlyAlias_StartsANewBaseline_AndTheSameAliasAgainKeepsIt()
    {
        var set = await FeatureSetAsync();
        var editor = Editor();
        await editor.SetNightlyAliasAsync(set, "fast", CancellationToken.None);
        var since = (await _h.Sets.GetSetAsync(set.Id, CancellationToken.None))!.NightlyAliasSinceUtc;
        await NightAsync(set.Id);

        var same = await editor.SetNightlyAliasAsync(set, " fast ", CancellationToken.None);
        var sinceAfterSame = (await _h.Sets.GetSetAsync(set.Id, CancellationToken.None))!.NightlyAliasSinceUtc;
        var moved = await editor.SetNightlyAliasAsync(set, "smart", CancellationToken.None);
        SetDrift(7);
        var firstOnSmart = await NightAsync(set.Id);
        var secondOnSmart = await NightAsync(set.Id);

        Assert.False(same);
        Assert.Equal(since, sinceAfterSame);
        Assert.True(moved);
        // Drifted from its first night on smart: that night is smart's baseline, and the next one matches it.
        Assert.Equal(("smart", 0.0, 0.0), (firstOnSmart!.Alias, firstOnSmart.ScorePoints, secondOnSmart!.ScorePoints));
        Assert.Empty(await AlertsAsync());
        await using var db = _h.Factory.ForSystem();
        var audits = await db.AuditLog.AsNoTracking().Where(a => a.Action == "eval_set.nightly_alias").OrderBy(a => a.Id).ToListAsync();
        Assert.Equal(2, audits.Count);
        Assert.Contains("\"before\":\"fast\"", audits[1].MetadataJson!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NightlyAlias_UnknownAlias_APromptsSet_OrANonEditor_IsRefused_AndClearingStopsNightlyRuns()
    {
        var set = await FeatureSetAsync();
        var promptSet = await _h.SetAsync(null, "What are your hours?");
        await using var member = _h.Services.CreateAsyncScope();
        member.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, "acme-member"), new Claim(ClaimTypes.Role, Roles.TenantMember), new Claim(KeystoneClaims.TenantId, DemoData.AcmeId.ToString())], "test")));
        var asMember = EditorAs(member);

        var unknown = await Assert.ThrowsAsync<EvalException>(() => Editor().SetNightlyAliasAsync(set, "no-such-alias", CancellationToken.None));
        var prompt = await Assert.ThrowsAsync<EvalException>(() => _h.Sets.SetNightlyAliasAsync(promptSet.Id, "fast", CancellationToken.None));
        var tooLong = await Assert.ThrowsAsync<EvalException>(() => _h.Sets.SetNightlyAliasAsync(set.Id, new string('a', 129), CancellationToken.None));
        var forbidden = await Assert.ThrowsAsync<EvalException>(() => asMember.SetNightlyAliasAsync(set, "fast", CancellationToken.None));
        await Editor().SetNightlyAliasAsync(set, "smart", CancellationToken.None);
        var cleared = await Editor().SetNightlyAliasAsync(set, "  ", CancellationToken.None);
        var queued = await _h.Services.GetRequiredService<EvalNightlyJob>().RunAsync(CancellationToken.None);

        Assert.Equal([EvalException.Invalid, EvalException.Invalid, EvalException.Invalid, EvalException.Forbidden],
            new[] { unknown.Code, prompt.Code, tooLong.Code, forbidden.Code });
        Assert.Contains("no-such-alias", unknown.Message, StringComparison.Ordinal);
        Assert.True(cleared);
        // Only the prompt's set is run tonight: the feature's set has no nightly alias any more.
        Assert.Equal(1, queued);
        Assert.Equal(promptSet.Id, (await _h.Store.GetAsync(Assert.Single(_h.Queue.Enqueued), CancellationToken.None))!.SetId);
        var row = (await _h.Sets.GetSetAsync(set.Id, CancellationToken.None))!;
        Assert.Equal(((string?)null, (DateTime?)null), (row.NightlyAlias, row.NightlyAliasSinceUtc));
    }

    [Fact]
    public async Task NightlyAlias_ATenantAdminChoosesTheirOwnSetsAndTheNightRunsIt_AnotherTenantsAdminFindsNoSuchSet()
    {
        var set = await FeatureSetAsync();
        await using var acme = TenantAdminOf(DemoData.AcmeId);
        await using var globex = TenantAdminOf(DemoData.GlobexId);

        var foreign = await Assert.ThrowsAsync<EvalException>(() => EditorAs(globex).SetNightlyAliasAsync(set, "fast", CancellationToken.None));
        var changed = await EditorAs(acme).SetNightlyAliasAsync(set, "fast", CancellationToken.None);
        var run = await NightAsync(set.Id);

        Assert.Equal(EvalException.NotFound, foreign.Code);
        Assert.True(changed);
        Assert.Equal("fast", run?.Alias);
        await using var db = _h.Factory.ForSystem();
        var audit = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "eval_set.nightly_alias" && a.Target == $"eval_set:{set.Id}");
        Assert.Equal(($"admin-{DemoData.AcmeId}", (Guid?)DemoData.AcmeId), (audit.ActorId, audit.TenantId));
    }

    [Fact]
    public async Task FeatureAlert_IsAcknowledged_ButNeverRolledBack_AndTheTrendShowsItsAliasNightsAndTheDrift()
    {
        var set = await FeatureSetAsync();
        await Editor().SetNightlyAliasAsync(set, "fast", CancellationToken.None);
        var first = await NightAsync(set.Id);
        SetDrift(7);
        var drifted = await NightAsync(set.Id);
        var sp = _scope.ServiceProvider;
        var alerts = new EvalDriftAlerts(_h.Factory, sp.GetRequiredService<TenantContext>(),
            new PromptCatalog(_h.Factory, sp.GetRequiredService<TenantContext>(), sp.GetRequiredService<AuditLog>(), TimeProvider.System),
            sp.GetRequiredService<AuditLog>(), sp.GetRequiredService<ConsoleNotificationSignal>(), TimeProvider.System);
        var view = Assert.Single(await alerts.ListAsync(null, openOnly: true, 10, CancellationToken.None));

        var rollback = await Assert.ThrowsAsync<EvalException>(() => alerts.RollbackAsync(view.Id, CancellationToken.None));
        var acknowledged = await alerts.AcknowledgeAsync(view.Id, CancellationToken.None);
        var trend = await sp.GetRequiredService<EvalTrendQuery>().ReadFeatureAsync(set.Id, 30, CancellationToken.None);

        Assert.Equal(("checkout", "feature checkout on fast"), (view.Feature, view.Subject));
        Assert.Equal(EvalException.Invalid, rollback.Code);
        Assert.True(acknowledged);
        Assert.Equal(EvalDriftStatus.Acknowledged, Assert.Single(await AlertsAsync()).Status);
        Assert.Equal([first!.Id, drifted!.Id], trend.Points.Select(p => p.RunId));
        Assert.Equal(["fast", "fast"], trend.Points.Select(p => p.SeriesName));
        Assert.Equal("nightly on fast", Assert.Single(trend.Activations).Label);
        Assert.Equal(drifted.Id, Assert.Single(trend.Drifts).RunId);
    }
}

public sealed class SqliteEvalFeatureNightlyTests : EvalFeatureNightlyTests
{
    protected override string Provider => "sqlite";
}

public sealed class PostgresEvalFeatureNightlyTests : EvalFeatureNightlyTests
{
    protected override string Provider => "postgres";
}
