using System.Security.Claims;
using System.Text.Json;
using Keystone.Data.Evals;
using Keystone.Data.Identity;
using Keystone.Data.Prompts;
using Keystone.Web.Features.Evals;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// The activation gate's decision on one database, over real eval runs on the real gateway and simulated provider:
/// the prompt <c>reply</c> has v1 active globally; v2 sends every question with <c>[sim:fail=500]</c>, so each of its
/// examples errors and scores 0; v3 answers like v1 (100). Run on SQLite and PostgreSQL by the subclasses below.
/// </summary>
public abstract class EvalActivationGateTests : IAsyncLifetime
{
    private const string EditorId = "editor-gate";
    private EvalRunHarness _h = default!;
    private AsyncServiceScope _scope;

    protected abstract string Provider { get; }

    public async Task InitializeAsync()
    {
        _h = await EvalRunHarness.CreateAsync(Provider);
        _scope = _h.Services.CreateAsyncScope();
        _scope.ServiceProvider.GetRequiredService<TenantContext>().SetUser(new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, EditorId), new Claim(ClaimTypes.Email, "product@keystone.demo"), new Claim(ClaimTypes.Role, Roles.PromptEditor),
        ], "test")));
        await using var db = _h.Factory.ForSystem();
        var promptId = await db.Prompts.Where(p => p.Name == "reply").Select(p => p.Id).SingleAsync();
        db.PromptVersions.Add(Version(promptId, 2, "{{question}} [sim:fail=500]"));
        db.PromptVersions.Add(Version(promptId, 3, "{{question}}"));
        await db.SaveChangesAsync();
    }

    public async Task DisposeAsync()
    {
        await _scope.DisposeAsync();
        await _h.DisposeAsync();
    }

    private static PromptVersion Version(Guid promptId, int number, string user) => new()
    {
        Id = Guid.NewGuid(), PromptId = promptId, Number = number, SystemTemplate = "Answer briefly.", UserTemplate = user,
        ModelAlias = "fast", CreatedByUserId = EditorId, CreatedUtc = DateTime.UtcNow,
    };

    /// <summary>The gate as the app builds it, for the signed-in editor, with its own clock (the freshness of runs).</summary>
    private EvalActivationGate Gate(TimeProvider? clock = null)
    {
        var sp = _scope.ServiceProvider;
        var options = Options.Create(new EvalsOptions { GateTolerancePoints = 5, GateFreshHours = 24 });
        var catalog = new PromptCatalog(_h.Factory, sp.GetRequiredService<TenantContext>(), sp.GetRequiredService<AuditLog>(), TimeProvider.System);
        return new EvalActivationGate(_h.Factory, sp.GetRequiredService<EvalRunner>(), catalog, sp.GetRequiredService<EvalDriftMonitor>(), sp.GetRequiredService<AuditLog>(), options,
            clock ?? TimeProvider.System);
    }

    /// <summary>Runs every queued run to its end, as Hangfire would.</summary>
    private async Task DrainAsync()
    {
        while (_h.Queue.Enqueued.TryDequeue(out var runId))
        {
            await _h.Job.RunAsync(runId, CancellationToken.None);
        }
    }

    private async Task<int?> ActiveGlobalAsync()
    {
        await using var db = _h.Factory.ForSystem();
        var promptId = await db.Prompts.Where(p => p.Name == "reply").Select(p => p.Id).SingleAsync();
        var id = await PromptRenderer.ActiveVersionIdAsync(db, promptId, null, CancellationToken.None);
        return await db.PromptVersions.Where(v => v.Id == id).Select(v => (int?)v.Number).SingleOrDefaultAsync();
    }

    private async Task<int> RunCountAsync()
    {
        await using var db = _h.Factory.ForSystem();
        return await db.EvalRuns.CountAsync();
    }

    [Fact]
    public async Task WorseVersion_StartsBothRunsThenBlocks_AndActivationWithoutAReasonIsRefused()
    {
        await _h.SetAsync(null, "What are your hours?", "Do you ship abroad?");
        var gate = Gate();

        var pending = await gate.CheckAsync("reply", 2, null, startRuns: true, CancellationToken.None);
        var queued = _h.Queue.Enqueued.Count;
        await DrainAsync();
        var blocked = await gate.CheckAsync("reply", 2, null, startRuns: false, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<PromptException>(() => gate.ActivateAsync("reply", 2, null, "  ", CancellationToken.None));

        // The active version had no done run: the gate ran it too, so both scores are measured on the same set now.
        Assert.Equal(ActivationGateVerdict.Pending, pending.Verdict);
        Assert.Equal(2, queued);
        Assert.Equal(ActivationGateVerdict.Blocked, blocked.Verdict);
        Assert.Equal((0.0, 100.0), (blocked.Candidate!.ScorePoints, blocked.Active!.ScorePoints));
        Assert.Equal((0.0, 1.0), (blocked.Candidate.PassRate, blocked.Active.PassRate));
        Assert.True(blocked.Active.CostPerExampleMicros > 0);
        Assert.Contains("100.0 points below version 1", blocked.Message, StringComparison.Ordinal);
        Assert.Contains("write why", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, await ActiveGlobalAsync());
        await using var db = _h.Factory.ForSystem();
        Assert.All(await db.EvalRuns.AsNoTracking().ToListAsync(), r => Assert.Equal(EvalRunTrigger.Activation, r.Trigger));
    }

    [Fact]
    public async Task Override_WithAReason_ActivatesAndAuditsActorReasonAndBothScores()
    {
        await _h.SetAsync(null, "What are your hours?", "Do you ship abroad?");
        var gate = Gate();
        await gate.CheckAsync("reply", 2, null, startRuns: true, CancellationToken.None);
        await DrainAsync();

        var result = await gate.ActivateAsync("reply", 2, null, "Hotfix for a legal wording; scores re-measured tomorrow.", CancellationToken.None);

        Assert.Equal(ActivationGateVerdict.Blocked, result.Verdict);
        Assert.Equal(2, await ActiveGlobalAsync());
        await using var db = _h.Factory.ForSystem();
        var entry = await db.AuditLog.AsNoTracking().SingleAsync(a => a.Action == "prompt.activate.gate_override");
        Assert.Equal((EditorId, "prompt:reply"), (entry.ActorId, entry.Target));
        var meta = JsonDocument.Parse(entry.MetadataJson!).RootElement;
        Assert.Equal("Hotfix for a legal wording; scores re-measured tomorrow.", meta.GetProperty("reason").GetString());
        Assert.Equal(0, meta.GetProperty("candidate").GetProperty("score").GetDouble());
        Assert.Equal(100, meta.GetProperty("active").GetProperty("score").GetDouble());
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "prompt.activate" && a.Target == "prompt:reply"));
    }

    [Fact]
    public async Task VersionWithinTolerance_IsAllowed_ActivatesWithoutAReason()
    {
        await _h.SetAsync(null, "What are your hours?", "Do you ship abroad?");
        var gate = Gate();
        await gate.CheckAsync("reply", 3, null, startRuns: true, CancellationToken.None);
        await DrainAsync();

        var result = await gate.ActivateAsync("reply", 3, null, null, CancellationToken.None);

        Assert.Equal(ActivationGateVerdict.Allowed, result.Verdict);
        Assert.Equal((100.0, 100.0), (result.Candidate!.ScorePoints, result.Active!.ScorePoints));
        Assert.Equal(3, await ActiveGlobalAsync());
        await using var db = _h.Factory.ForSystem();
        Assert.True(await db.AuditLog.AnyAsync(a => a.Action == "prompt.activate.gate"));
        Assert.False(await db.AuditLog.AnyAsync(a => a.Action == "prompt.activate.gate_override"));
    }

    [Fact]
    public async Task FreshDoneRun_IsReused_AndAStaleOneIsRunAgain()
    {
        await _h.SetAsync(null, "What are your hours?");
        var gate = Gate();
        await gate.CheckAsync("reply", 3, null, startRuns: true, CancellationToken.None);
        await DrainAsync();
        var runs = await RunCountAsync();

        var again = await Gate().CheckAsync("reply", 3, null, startRuns: true, CancellationToken.None);
        var afterReuse = await RunCountAsync();
        var queuedByReuse = _h.Queue.Enqueued.Count;
        var dayLater = await Gate(new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(25))).CheckAsync("reply", 3, null, startRuns: true, CancellationToken.None);

        Assert.Equal(ActivationGateVerdict.Allowed, again.Verdict);
        Assert.Equal(2, runs);
        Assert.Equal(runs, afterReuse);
        Assert.Equal(0, queuedByReuse);
        Assert.Equal("done", again.Candidate!.Status);
        // 25 hours on, the candidate's run is no longer fresh (24 h): a new run; the active side keeps its latest done run.
        Assert.Equal(ActivationGateVerdict.Pending, dayLater.Verdict);
        Assert.NotEqual(again.Candidate!.RunId, dayLater.Candidate!.RunId);
        Assert.Equal(again.Active!.RunId, dayLater.Active!.RunId);
        Assert.Equal(runs + 1, await RunCountAsync());
    }

    [Fact]
    public async Task NoEvalSet_AllowsActivation_SaysThereIsNothingToGateOn_AndStartsNoRun()
    {
        var gate = Gate();

        var check = await gate.CheckAsync("reply", 2, null, startRuns: true, CancellationToken.None);
        var result = await gate.ActivateAsync("reply", 2, null, null, CancellationToken.None);

        Assert.Equal(ActivationGateVerdict.NoSet, check.Verdict);
        Assert.Contains("nothing to gate on", check.Message, StringComparison.Ordinal);
        Assert.Equal(ActivationGateVerdict.NoSet, result.Verdict);
        Assert.Equal(2, await ActiveGlobalAsync());
        Assert.Equal(0, await RunCountAsync());
        await using var db = _h.Factory.ForSystem();
        Assert.False(await db.AuditLog.AnyAsync(a => a.Action.StartsWith("prompt.activate.gate")));
    }

    [Fact]
    public async Task TenantOverride_WithoutItsOwnSet_IsGatedOnTheGlobalSet()
    {
        await _h.SetAsync(null, "What are your hours?");
        var gate = Gate();
        await gate.CheckAsync("reply", 2, DemoData.AcmeId, startRuns: true, CancellationToken.None);
        await DrainAsync();

        var blocked = await gate.CheckAsync("reply", 2, DemoData.AcmeId, startRuns: false, CancellationToken.None);

        Assert.Equal(ActivationGateVerdict.Blocked, blocked.Verdict);
        await Assert.ThrowsAsync<PromptException>(() => gate.ActivateAsync("reply", 2, DemoData.AcmeId, null, CancellationToken.None));
        await using var db = _h.Factory.ForSystem();
        Assert.False(await db.PromptActivations.AnyAsync(a => a.TenantId == DemoData.AcmeId));
    }
}

public sealed class SqliteEvalActivationGateTests : EvalActivationGateTests
{
    protected override string Provider => "sqlite";
}

public sealed class PostgresEvalActivationGateTests : EvalActivationGateTests
{
    protected override string Provider => "postgres";
}
