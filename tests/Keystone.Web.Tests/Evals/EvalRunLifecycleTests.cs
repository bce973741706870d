using Keystone.Data.Evals;
using Keystone.Gateway;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// An eval run's life on one database, over the real gateway and simulated provider: queued → running → done, failed,
/// cancelled, the watchdog, a restart, retry, and tenant isolation of runs and results. Run on SQLite and PostgreSQL by
/// the two subclasses below.
/// </summary>
public abstract class EvalRunLifecycleTests : IAsyncLifetime
{
    private EvalRunHarness _h = default!;

    protected abstract string Provider { get; }

    public async Task InitializeAsync() => _h = await EvalRunHarness.CreateAsync(Provider);

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private static readonly EvalRunStarter Editor = new("editor-1", "product@keystone.demo");

    private Task<EvalRunView> CreateAsync(Guid setId, int? version = null, string? alias = null) =>
        _h.Store.CreateAsync(new EvalRunRequest(setId, version, alias, EvalRunTrigger.Manual), Editor, CancellationToken.None);

    private async Task AssertTotalsEqualRowsAsync(Guid runId)
    {
        await using var db = _h.Factory.ForSystem();
        var run = await db.EvalRuns.AsNoTracking().SingleAsync(r => r.Id == runId);
        var rows = await db.EvalResults.AsNoTracking().Where(r => r.RunId == runId).ToListAsync();
        Assert.Equal(rows.Count, run.Completed);
        Assert.Equal(rows.Count(r => r.Passed), run.Passed);
        Assert.Equal(rows.Count(r => r.Error != null), run.Errored);
        Assert.Equal(rows.Sum(r => r.CostMicros), run.CostMicros);
        Assert.Equal(rows.Sum(r => (long)r.InputTokens), run.InputTokens);
        Assert.Equal(rows.Sum(r => (long)r.OutputTokens), run.OutputTokens);
        Assert.Equal(rows.Sum(r => r.Score), run.ScoreSum, 6);
    }

    [Fact]
    public async Task Run_QueuedThenRunningThenDone_EachExampleHasItsResultAndTheTotalsEqualTheRows()
    {
        var set = await _h.SetAsync(null, "What are your hours?", "Do you ship abroad?", "Can I get a refund?");

        var queued = await CreateAsync(set.Id, alias: "smart");
        var claimedByOther = await _h.Store.ClaimAsync(queued.Id, "w-test", CancellationToken.None);
        var running = await _h.Store.GetAsync(queued.Id, CancellationToken.None);
        var secondJob = await _h.Store.ClaimAsync(queued.Id, "w-second", CancellationToken.None);
        var ended = await _h.Job.RunClaimedAsync(queued.Id, "w-test", CancellationToken.None);

        Assert.Equal((EvalRunStatus.Queued, 3, (int?)1, "smart"), (queued.Status, queued.Total, queued.Version, queued.Alias));
        Assert.True(claimedByOther);
        Assert.Equal(EvalRunStatus.Running, running!.Status);
        Assert.NotNull(running.StartedUtc);
        Assert.False(secondJob);
        Assert.Equal(EvalRunStatus.Done, ended);
        var done = (await _h.Store.GetAsync(queued.Id, CancellationToken.None))!;
        Assert.Equal((EvalRunStatus.Done, 3, 3, 0), (done.Status, done.Completed, done.Passed, done.Errored));
        Assert.Equal(100, done.ScorePoints);
        Assert.True(done.CostMicros > 0);
        Assert.NotNull(done.FinishedUtc);
        var results = await _h.Store.ResultsAsync(queued.Id, CancellationToken.None);
        Assert.Equal(3, results.Count);
        Assert.All(results, r => Assert.False(string.IsNullOrWhiteSpace(r.Answer)));
        await AssertTotalsEqualRowsAsync(queued.Id);

        // Every answer went through the gateway under feature "eval", attributed to the platform tenant (the first by name: Acme).
        await _h.FlushAsync();
        await using var db = _h.Factory.ForSystem();
        var traceIds = results.Select(r => r.TraceId!.Value).ToList();
        var calls = await db.Calls.AsNoTracking().Where(c => traceIds.Contains(c.TraceId)).ToListAsync();
        Assert.Equal(3, calls.Count);
        Assert.All(calls, c => Assert.Equal(("eval", DemoData.AcmeId, "smart", (Guid?)_h.PromptVersionId), (c.Feature, c.TenantId, c.Alias, c.PromptVersionId)));
    }

    [Fact]
    public async Task Run_ProviderFailsOneExample_ItIsErrored_RetryAnswersOnlyThatOneInANewAttempt()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "What are your hours?", "Broken one [sim:fail=500]", "Can I get a refund?");
        var run = await CreateAsync(set.Id);

        await _h.Job.RunAsync(run.Id, CancellationToken.None);

        var first = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal((EvalRunStatus.Done, 3, 2, 1), (first.Status, first.Completed, first.Passed, first.Errored));
        Assert.True(first.CanRetry);
        await AssertTotalsEqualRowsAsync(run.Id);
        var before = await _h.Store.ResultsAsync(run.Id, CancellationToken.None);
        var broken = Assert.Single(before, r => r.Error is not null);
        Assert.Contains("upstream", broken.Error, StringComparison.OrdinalIgnoreCase);

        // The example is fixed; the retry answers it alone and keeps the two good results as they were.
        var example = (await _h.Sets.ListExamplesAsync(set.Id, CancellationToken.None)).Single(e => e.Id == broken.ExampleId);
        await _h.Sets.UpdateExampleAsync(example.Id, example.Version, EvalRunHarness.Example("Fixed one"), CancellationToken.None);
        Assert.True(await _h.Store.RetryAsync(run.Id, CancellationToken.None));
        var requeued = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal((EvalRunStatus.Queued, 2, 0, 2), (requeued.Status, requeued.Completed, requeued.Errored, requeued.Attempt));
        await AssertTotalsEqualRowsAsync(run.Id);
        await _h.Job.RunAsync(run.Id, CancellationToken.None);

        var after = await _h.Store.ResultsAsync(run.Id, CancellationToken.None);
        var second = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal((EvalRunStatus.Done, 3, 3, 0), (second.Status, second.Completed, second.Passed, second.Errored));
        Assert.Equal(before.Where(r => r.Error is null).Select(r => (r.Id, r.Attempt)), after.Where(r => r.ExampleId != broken.ExampleId).Select(r => (r.Id, r.Attempt)));
        Assert.Equal(2, after.Single(r => r.ExampleId == broken.ExampleId).Attempt);
        Assert.False(await _h.Store.RetryAsync(run.Id, CancellationToken.None));
        await AssertTotalsEqualRowsAsync(run.Id);
    }

    [Fact]
    public async Task Run_BudgetRefusesTheCalls_IsFailedWithTheCapInItsReason()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "What are your hours?", "Do you ship abroad?");
        await _h.Services.GetRequiredService<IBudgetService>().SetAsync(DemoData.AcmeId,
            [new BudgetCapInput(BudgetScope.Feature, EvalRunJob.Feature, BudgetPeriod.Day, 1)], null, null, CancellationToken.None);
        var run = await CreateAsync(set.Id);

        await _h.Job.RunAsync(run.Id, CancellationToken.None);

        var failed = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal(EvalRunStatus.Failed, failed.Status);
        Assert.StartsWith("The budget refused the run's calls", failed.FailureReason, StringComparison.Ordinal);
        Assert.Equal(0, failed.Completed);
        Assert.NotNull(failed.FinishedUtc);
        await AssertTotalsEqualRowsAsync(run.Id);
    }

    [Fact]
    public async Task Cancel_RunningRun_StopsAtTheNextExampleBoundary_TheResultInFlightIsKept()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "One", "Two", "Three");
        var run = await CreateAsync(set.Id);
        Assert.True(await _h.Store.ClaimAsync(run.Id, "w-1", CancellationToken.None));
        // The worker's example in flight when the cancel comes: it finishes and is written.
        var (loaded, _, pending, _) = await _h.Store.PlanAsync(run.Id, CancellationToken.None);
        Assert.True(await _h.Store.WriteResultAsync(loaded, "w-1", new EvalResult { Id = Guid.NewGuid(), ExampleId = pending[0].Id, Answer = "Sure.", Score = 1, Passed = true, CostMicros = 7 }, CancellationToken.None));

        Assert.True(await _h.Store.CancelAsync(run.Id, CancellationToken.None));
        var asked = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        var ended = await _h.Job.RunClaimedAsync(run.Id, "w-1", CancellationToken.None);

        Assert.Equal((EvalRunStatus.Running, true, false), (asked.Status, asked.CancelRequested, asked.CanCancel));
        Assert.Equal(EvalRunStatus.Cancelled, ended);
        var cancelled = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal((EvalRunStatus.Cancelled, 1, 7L), (cancelled.Status, cancelled.Completed, cancelled.CostMicros));
        Assert.Equal([pending[0].Id], (await _h.Store.ResultsAsync(run.Id, CancellationToken.None)).Select(r => r.ExampleId));
        Assert.False(await _h.Store.CancelAsync(run.Id, CancellationToken.None));
        await AssertTotalsEqualRowsAsync(run.Id);
    }

    [Fact]
    public async Task Cancel_QueuedRun_IsCancelledAtOnce_ItsJobDoesNothing()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "One");
        var run = await CreateAsync(set.Id);

        Assert.True(await _h.Store.CancelAsync(run.Id, CancellationToken.None));
        await _h.Job.RunAsync(run.Id, CancellationToken.None);

        var cancelled = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal((EvalRunStatus.Cancelled, 0, (DateTime?)null), (cancelled.Status, cancelled.Completed, cancelled.StartedUtc));
        Assert.True(cancelled.CanRetry);
    }

    [Fact]
    public async Task Watchdog_RunWithoutProgressForTheStallTime_IsFailedWithItsReason_ARunThatProgressedIsLeft_TheStaleWorkerWritesNothing()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "One", "Two");
        var stalled = await CreateAsync(set.Id);
        var alive = await CreateAsync(set.Id);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new EvalRunStore(_h.Factory, Options.Create(new EvalsOptions { StallMinutes = 10 }), clock);
        Assert.True(await store.ClaimAsync(stalled.Id, "w-stalled", CancellationToken.None));
        Assert.True(await store.ClaimAsync(alive.Id, "w-alive", CancellationToken.None));

        clock.Advance(TimeSpan.FromMinutes(11));
        var (aliveRun, _, alivePending, _) = await store.PlanAsync(alive.Id, CancellationToken.None);
        Assert.True(await store.WriteResultAsync(aliveRun, "w-alive", new EvalResult { Id = Guid.NewGuid(), ExampleId = alivePending[0].Id, Answer = "ok", Score = 1, Passed = true }, CancellationToken.None));
        var failed = await store.FailStalledAsync(CancellationToken.None);

        Assert.Equal([stalled.Id], failed);
        var dead = (await store.GetAsync(stalled.Id, CancellationToken.None))!;
        Assert.Equal(EvalRunStatus.Failed, dead.Status);
        Assert.Contains("No progress for 10 minutes", dead.FailureReason, StringComparison.Ordinal);
        Assert.Equal(EvalRunStatus.Running, (await store.GetAsync(alive.Id, CancellationToken.None))!.Status);
        var (deadRun, _, deadPending, _) = await store.PlanAsync(stalled.Id, CancellationToken.None);
        Assert.False(await store.WriteResultAsync(deadRun, "w-stalled", new EvalResult { Id = Guid.NewGuid(), ExampleId = deadPending[0].Id, Answer = "late" }, CancellationToken.None));
        Assert.Empty(await store.ResultsAsync(stalled.Id, CancellationToken.None));
        await AssertTotalsEqualRowsAsync(stalled.Id);
        Assert.Empty(await store.FailStalledAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Watchdog_QueuedRunNoWorkerTook_IsFailedWithItsReason()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "One");
        var run = await CreateAsync(set.Id);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(15));
        var store = new EvalRunStore(_h.Factory, Options.Create(new EvalsOptions { StallMinutes = 10 }), clock);

        Assert.Equal([run.Id], await store.FailStalledAsync(CancellationToken.None));

        var failed = (await store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal(EvalRunStatus.Failed, failed.Status);
        Assert.StartsWith("No worker started the run", failed.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TenantRuns_AreTheTenantsRows_AnotherTenantAndTheGlobalRunsAreNotVisibleInItsScope()
    {
        var acmeSet = await _h.SetAsync(DemoData.AcmeId, "One");
        var globalSet = await _h.SetAsync(null, "Two");
        var acmeRun = await CreateAsync(acmeSet.Id);
        var globalRun = await CreateAsync(globalSet.Id);
        await _h.Job.RunAsync(acmeRun.Id, CancellationToken.None);
        await _h.Job.RunAsync(globalRun.Id, CancellationToken.None);

        await using var acme = _h.Factory.ForTenant(DemoData.AcmeId);
        await using var globex = _h.Factory.ForTenant(DemoData.GlobexId);
        Assert.Equal([acmeRun.Id], await acme.EvalRuns.Select(r => r.Id).ToListAsync());
        Assert.Equal([acmeRun.Id], await acme.EvalResults.Select(r => r.RunId).ToListAsync());
        Assert.Empty(await globex.EvalRuns.ToListAsync());
        Assert.Empty(await globex.EvalResults.ToListAsync());
        Assert.Equal(DemoData.AcmeId, acmeRun.BillingTenantId);
        Assert.Null(globalRun.TenantId);
    }

    [Fact]
    public async Task Restart_RunLeftRunningWithSomeResults_IsHandledPerDatabaseMode()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "One", "Two", "Three");
        var left = await CreateAsync(set.Id);
        var waiting = await CreateAsync(set.Id);
        Assert.True(await _h.Store.ClaimAsync(left.Id, "w-old-process", CancellationToken.None));
        var (run, _, pending, _) = await _h.Store.PlanAsync(left.Id, CancellationToken.None);
        var kept = new EvalResult { Id = Guid.NewGuid(), ExampleId = pending[0].Id, Answer = "From before the restart.", Score = 1, Passed = true };
        Assert.True(await _h.Store.WriteResultAsync(run, "w-old-process", kept, CancellationToken.None));

        await using var scope = _h.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<IEvalRunRecovery>().RecoverAsync(CancellationToken.None);
        foreach (var id in _h.Queue.Enqueued.ToList())
        {
            await _h.Job.RunAsync(id, CancellationToken.None);
        }

        Assert.Equal(EvalRunStatus.Done, (await _h.Store.GetAsync(waiting.Id, CancellationToken.None))!.Status);
        await AssertRestartedAsync(left.Id, kept.Id);
        await AssertTotalsEqualRowsAsync(left.Id);
    }

    [Fact]
    public async Task Nightly_QueuesOneRunPerSetOnItsActiveVersion_SkipsAnEmptySet_AndASecondPassQueuesNothing()
    {
        var global = await _h.SetAsync(null, "One", "Two");
        var acme = await _h.SetAsync(DemoData.AcmeId, "Three");
        await _h.SetAsync(DemoData.GlobexId);
        var nightly = _h.Services.GetRequiredService<EvalNightlyJob>();

        var first = await nightly.RunAsync(CancellationToken.None);
        var second = await nightly.RunAsync(CancellationToken.None);

        Assert.Equal((2, 0), (first, second));
        var runs = await _h.Store.ListAsync(null, null, 10, CancellationToken.None);
        Assert.Equal(new[] { acme.Id, global.Id }.Order(), runs.Select(r => r.SetId).Order());
        Assert.All(runs, r => Assert.Equal((EvalRunTrigger.Schedule, (int?)1, "fast", EvalRunStatus.Queued), (r.Trigger, r.Version, r.Alias, r.Status)));
        Assert.Equal(runs.Select(r => r.Id).Order(), _h.Queue.Enqueued.Order());
    }

    /// <summary>What the restart did with the run the previous process left running.</summary>
    private protected abstract Task AssertRestartedAsync(Guid runId, Guid keptResultId);

    private protected EvalRunHarness H => _h;
}

public sealed class SqliteEvalRunLifecycleTests : EvalRunLifecycleTests
{
    protected override string Provider => "sqlite";

    /// <summary>Embedded mode: the only instance; the run is resumed and only the examples without a result are answered.</summary>
    private protected override async Task AssertRestartedAsync(Guid runId, Guid keptResultId)
    {
        var resumed = (await H.Store.GetAsync(runId, CancellationToken.None))!;
        Assert.Equal((EvalRunStatus.Done, 3), (resumed.Status, resumed.Completed));
        var results = await H.Store.ResultsAsync(runId, CancellationToken.None);
        Assert.Equal("From before the restart.", results.Single(r => r.Id == keptResultId).Answer);
        Assert.Equal(3, results.Select(r => r.ExampleId).Distinct().Count());
    }
}

public sealed class PostgresEvalRunLifecycleTests : EvalRunLifecycleTests
{
    protected override string Provider => "postgres";

    /// <summary>
    /// Scaled mode: a running run may be another live instance's, so the start leaves it (no second worker answers its
    /// examples); if its worker is dead, the watchdog fails it with the reason once the stall time has passed.
    /// </summary>
    private protected override async Task AssertRestartedAsync(Guid runId, Guid keptResultId)
    {
        var left = (await H.Store.GetAsync(runId, CancellationToken.None))!;
        Assert.Equal((EvalRunStatus.Running, 1), (left.Status, left.Completed));
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(11));
        var watchdog = new EvalRunStore(H.Factory, Options.Create(new EvalsOptions { StallMinutes = 10 }), clock);
        Assert.Equal([runId], await watchdog.FailStalledAsync(CancellationToken.None));
        Assert.Equal(EvalRunStatus.Failed, (await H.Store.GetAsync(runId, CancellationToken.None))!.Status);
    }
}
