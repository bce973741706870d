using Keystone.Data.Calls;
using Keystone.Data.Evals;
using Keystone.Gateway;
using Keystone.Gateway.Pricing;
using Keystone.Testing.Upstreams;
using Keystone.Web.Features.Evals;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Keystone.Web.Tests.Evals;

/// <summary>
/// Eval runs in batch mode (decision 0049) on one database, over the real gateway: the built-in simulated provider's
/// batch flow, and the real OpenAI batch adapter against the loopback Batch API. The whole batch is held on the caps at
/// submission, each line settled at the batch price and recorded as a call, the run scored and finished like a live one.
/// Run on SQLite and PostgreSQL by the two subclasses below.
/// </summary>
public abstract class EvalBatchRunTests : IAsyncLifetime
{
    private EvalRunHarness _h = default!;
    private MockOpenAiBatchServer _mock = default!;

    protected abstract string Provider { get; }

    private static readonly EvalRunStarter Editor = new("editor-1", "product@keystone.demo");

    public async Task InitializeAsync()
    {
        _mock = await MockOpenAiBatchServer.StartAsync();
        _h = await EvalRunHarness.CreateAsync(Provider, settings: new Dictionary<string, string?>
        {
            ["Gateway:Providers:mock:Kind"] = "OpenAI",
            ["Gateway:Providers:mock:BaseUrl"] = _mock.BaseUrl.ToString(),
            ["Gateway:Providers:mock:ApiKey"] = "sk-platform-batch-test-0123456789",
            ["Gateway:Providers:mock:TimeoutSeconds"] = "10",
            ["Gateway:Aliases:bmock:0"] = "mock/gpt-4o-mini",
            ["Gateway:Providers:anth:Kind"] = "Anthropic",
            ["Gateway:Aliases:banth:0"] = "anth/claude-haiku-4-5",
            ["Evals:NightlyBatch"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await _h.DisposeAsync();
        await _mock.DisposeAsync();
    }

    private Task<EvalRunView> CreateAsync(Guid setId, string alias) =>
        _h.Store.CreateAsync(new EvalRunRequest(setId, null, alias, EvalRunTrigger.Manual, EvalRunMode.Batch), Editor, CancellationToken.None);

    private async Task<EvalRunView> PollUntilFinishedAsync(Guid runId, int polls = 10)
    {
        for (var i = 0; i < polls; i++)
        {
            var run = await _h.Batches.PollAsync(runId, CancellationToken.None);
            if (run!.IsFinished)
            {
                return run;
            }
        }

        throw new InvalidOperationException($"The batch run did not finish within {polls} polls.");
    }

    private async Task<List<LlmCall>> CallsAsync(IEnumerable<Guid> traceIds)
    {
        await _h.FlushAsync();
        var ids = traceIds.ToList();
        await using var db = _h.Factory.ForSystem();
        return await db.Calls.AsNoTracking().Where(c => ids.Contains(c.TraceId)).ToListAsync();
    }

    private async Task<BudgetCapStatus> EvalCapAsync()
        => (await _h.Services.GetRequiredService<IBudgetService>().GetAsync(DemoData.AcmeId, CancellationToken.None)).Caps
            .Single(c => c.Scope == BudgetScope.Feature && c.Key == EvalRunJob.Feature);

    private async Task SetEvalCapAsync(long limitMicros) => await _h.Services.GetRequiredService<IBudgetService>().SetAsync(DemoData.AcmeId,
        [new BudgetCapInput(BudgetScope.Feature, EvalRunJob.Feature, BudgetPeriod.Day, limitMicros)], null, null, CancellationToken.None);

    private static Keystone.Gateway.Usage UsageOf(LlmCall c) => new(c.InputTokens, c.OutputTokens, c.CachedInputTokens, c.CacheWriteTokens, c.CacheWrite1hTokens, c.ReasoningTokens);

    private async Task<PriceRow> PriceAsync(string provider, string model)
    {
        var book = _h.Services.GetRequiredService<PriceBook>();
        await book.EnsureLoadedAsync(CancellationToken.None);
        return book.Find(provider, model, DateTime.UtcNow)!;
    }

    [Fact]
    public async Task Nightly_RunsAsABatchWhereTheProviderGivesABatchDiscount_AndLiveWhereItHasNoBatchApi()
    {
        async Task<EvalSetRow> FeatureSetAsync(string feature, string alias)
        {
            var set = await _h.Sets.CreateFeatureSetAsync(feature, DemoData.AcmeId, null, CancellationToken.None);
            foreach (var q in new[] { "What are your hours?", "Do you ship abroad?" })
            {
                // A feature's set replays a conversation (no prompt to fill).
                await _h.Sets.AddExampleAsync(set.Id, new EvalExampleInput(null, [new EvalMessage("user", q)], null, [new EvalExpectation(EvalExpectation.Regex, "\\S")], null), "editor", CancellationToken.None);
            }
            await _h.Sets.SetNightlyAliasAsync(set.Id, alias, CancellationToken.None);
            return set;
        }

        var discounted = await FeatureSetAsync("nightly-batch", "bfast");
        var noBatchApi = await FeatureSetAsync("nightly-live", "banth");

        await _h.Services.GetRequiredService<EvalNightlyJob>().RunAsync(CancellationToken.None);
        EvalRunView? batchRun = null, liveRun = null;
        await using (var db = _h.Factory.ForSystem())
        {
            var runs = await db.EvalRuns.AsNoTracking().Where(r => r.SetId == discounted.Id || r.SetId == noBatchApi.Id).ToListAsync();
            batchRun = await _h.Store.GetAsync(runs.Single(r => r.SetId == discounted.Id).Id, CancellationToken.None);
            liveRun = await _h.Store.GetAsync(runs.Single(r => r.SetId == noBatchApi.Id).Id, CancellationToken.None);
        }

        Assert.Equal((EvalRunMode.Batch, EvalRunTrigger.Schedule, "bfast"), (batchRun!.Mode, batchRun.Trigger, batchRun.Alias));
        Assert.Equal((EvalRunMode.Live, EvalRunTrigger.Schedule, "banth"), (liveRun!.Mode, liveRun.Trigger, liveRun.Alias));

        // The batch night goes through like any batch run: submitted by the job, finished by the poll, at the batch price.
        await _h.Job.RunAsync(batchRun.Id, CancellationToken.None);
        var done = await PollUntilFinishedAsync(batchRun.Id);
        Assert.Equal((EvalRunStatus.Done, 2), (done.Status, done.Completed));
    }

    [Fact]
    public async Task BatchRun_SimulatedProvider_IsScoredLikeALiveRun_EachLineCostsTheBatchPriceAndIsRecordedAsABatchCall()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "What are your hours?", "Do you ship abroad?", "Broken one [sim:fail=500]");
        var run = await CreateAsync(set.Id, "bfast");

        await _h.Job.RunAsync(run.Id, CancellationToken.None);
        var submitted = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        var done = await PollUntilFinishedAsync(run.Id);

        Assert.Equal((EvalRunMode.Batch, EvalRunStatus.Running, 0), (submitted.Mode, submitted.Status, submitted.Completed));
        Assert.StartsWith("batch_sim_", submitted.Batch!.BatchId, StringComparison.Ordinal);
        Assert.Equal((EvalRunStatus.Done, 3, 2, 1), (done.Status, done.Completed, done.Passed, done.Errored));
        Assert.Equal(("completed", 3, 2, 1), (done.Batch!.Status, done.Batch.Total, done.Batch.Completed, done.Batch.Failed));
        var results = await _h.Store.ResultsAsync(run.Id, CancellationToken.None);
        Assert.Contains("batch_line_failed", results.Single(r => r.Error is not null).Error, StringComparison.Ordinal);

        var calls = await CallsAsync(results.Where(r => r.TraceId is not null).Select(r => r.TraceId!.Value));
        Assert.Equal(3, calls.Count);
        Assert.All(calls, c => Assert.Equal(("eval", DemoData.AcmeId, "bfast", "simb", "sim-fast"), (c.Feature, c.TenantId, c.Alias, c.Provider, c.Model)));
        Assert.All(calls, c => Assert.StartsWith(BatchErrorCodes.RequestIdPrefix + done.Batch.BatchId, c.RequestId, StringComparison.Ordinal));
        var price = await PriceAsync("simulated", "sim-fast");
        Assert.Equal(50, price.BatchDiscountPercent);
        foreach (var call in calls.Where(c => c.Status == CallStatus.Ok))
        {
            var atBatchPrice = PriceBook.Calculate(price, UsageOf(call), batch: true).CostMicros;
            Assert.Equal(atBatchPrice, call.CostMicros);
            Assert.True(atBatchPrice < PriceBook.Calculate(price, UsageOf(call)).CostMicros);
            Assert.Equal(call.CostMicros, results.Single(r => r.TraceId == call.TraceId).CostMicros);
        }

        var failedCall = calls.Single(c => c.Status != CallStatus.Ok);
        Assert.Equal((0L, BatchErrorCodes.LineFailed), (failedCall.CostMicros, failedCall.ErrorCode));
        Assert.Equal(calls.Sum(c => c.CostMicros), done.CostMicros);
    }

    [Fact]
    public async Task BatchRun_OpenAiBatchApi_PartialFailureAndUsageAboveTheHold_AreSettledAsSpent_AndEveryHoldIsReleased()
    {
        await SetEvalCapAsync(50_000_000);
        var set = await _h.SetAsync(DemoData.AcmeId, "One?", "Two?", "Three?");
        var examples = (await _h.Sets.ListExamplesAsync(set.Id, CancellationToken.None)).Select(e => EvalBatchRunner.CustomIdOf(e.Id)).ToList();
        _mock.FailLine = id => id == examples[1];
        _mock.CompletionTokens = id => id == examples[2] ? 50_000 : null;
        var run = await CreateAsync(set.Id, "bmock");

        await _h.Job.RunAsync(run.Id, CancellationToken.None);
        var held = await EvalCapAsync();
        var done = await PollUntilFinishedAsync(run.Id);

        Assert.Equal(1, _mock.BatchCount);
        Assert.Equal(examples.Order(), MockOpenAiBatchServer.CustomIdsOf(Assert.Single(_mock.InputFiles)).Order());
        Assert.True(held.ReservedMicros > 0);
        Assert.Equal((EvalRunStatus.Done, 3, 1), (done.Status, done.Completed, done.Errored));
        var results = await _h.Store.ResultsAsync(run.Id, CancellationToken.None);
        Assert.Equal(MockOpenAiBatchServer.AnswerText(examples[0]), results.Single(r => r.ExampleId.ToString("N") == examples[0]).Answer);
        Assert.Contains("500", results.Single(r => r.ExampleId.ToString("N") == examples[1]).Error, StringComparison.Ordinal);

        var calls = await CallsAsync(results.Where(r => r.TraceId is not null).Select(r => r.TraceId!.Value));
        var price = await PriceAsync("openai", "gpt-4o-mini");
        var above = calls.Single(c => c.OutputTokens == 50_000);
        Assert.Equal(PriceBook.Calculate(price, UsageOf(above), batch: true).CostMicros, above.CostMicros);
        var after = await EvalCapAsync();
        // Every hold released; what the provider reported (above its line's hold) is spent and counted against the cap.
        Assert.Equal(0, after.ReservedMicros);
        Assert.Equal(calls.Sum(c => c.CostMicros), after.SpentMicros);
        Assert.True(above.CostMicros > held.ReservedMicros / 3);
    }

    [Fact]
    public async Task BatchRun_CapsCannotHoldTheBatch_IsFailedWithTheCapsReason_AndNothingIsSubmitted()
    {
        await SetEvalCapAsync(100);
        var set = await _h.SetAsync(DemoData.AcmeId, "One?", "Two?");
        var run = await CreateAsync(set.Id, "bmock");

        Assert.True(await _h.Store.ClaimAsync(run.Id, "w-1", CancellationToken.None));

        var (handled, refusal) = await _h.Batches.TakeAsync(run.Id, "w-1", CancellationToken.None);

        Assert.True(handled);
        Assert.Equal(GatewayErrorCodes.BudgetExceeded, refusal!.Code);
        Assert.Contains("Nothing was submitted", refusal.Message, StringComparison.Ordinal);
        var failed = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal(EvalRunStatus.Failed, failed.Status);
        Assert.StartsWith("The budget refused the batch", failed.FailureReason, StringComparison.Ordinal);
        Assert.Empty(_mock.Requests);
        Assert.Equal(0, (await EvalCapAsync()).ReservedMicros);
    }

    [Fact]
    public async Task BatchRuns_StartedTogether_CannotPassTheCapTogether_OneIsSubmittedTheOtherRefused()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "One?", "Two?", "Three?");
        var estimate = (await _h.Batches.EstimateAsync(set.Id, null, "bmock", CancellationToken.None))!;
        // Room for one batch's holds, not two.
        await SetEvalCapAsync(estimate.BatchMicros!.Value * 3 / 2);
        var a = await CreateAsync(set.Id, "bmock");
        var b = await CreateAsync(set.Id, "bmock");

        await Task.WhenAll(_h.Job.RunAsync(a.Id, CancellationToken.None), _h.Job.RunAsync(b.Id, CancellationToken.None));

        var runs = new[] { (await _h.Store.GetAsync(a.Id, CancellationToken.None))!, (await _h.Store.GetAsync(b.Id, CancellationToken.None))! };
        Assert.Single(runs, r => r.Status == EvalRunStatus.Running && r.Batch is not null);
        Assert.Single(runs, r => r.Status == EvalRunStatus.Failed && r.FailureReason!.Contains("budget", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(1, _mock.BatchCount);
        var cap = await EvalCapAsync();
        Assert.Equal(estimate.BatchMicros, cap.ReservedMicros);
        Assert.True(cap.SpentMicros + cap.ReservedMicros <= cap.LimitMicros);
    }

    [Fact]
    public async Task BatchRun_ProviderWithoutABatchApi_IsRefusedUpFront()
    {
        var set = await _h.SetAsync(DemoData.AcmeId, "One?");
        var run = await CreateAsync(set.Id, "banth");
        Assert.True(await _h.Store.ClaimAsync(run.Id, "w-1", CancellationToken.None));

        var (_, refusal) = await _h.Batches.TakeAsync(run.Id, "w-1", CancellationToken.None);

        Assert.Equal(BatchErrorCodes.NotSupported, refusal!.Code);
        var failed = (await _h.Store.GetAsync(run.Id, CancellationToken.None))!;
        Assert.Equal(EvalRunStatus.Failed, failed.Status);
        Assert.Contains("no batch interface", failed.FailureReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BatchRun_ExpiresAtTheProvider_AnsweredLinesAreKept_TheRestErrorAndReleaseTheirHolds()
    {
        await SetEvalCapAsync(50_000_000);
        _mock.ExpireAfter = 1;
        var set = await _h.SetAsync(DemoData.AcmeId, "One?", "Two?");
        var run = await CreateAsync(set.Id, "bmock");

        await _h.Job.RunAsync(run.Id, CancellationToken.None);
        var done = await PollUntilFinishedAsync(run.Id);

        Assert.Equal((EvalRunStatus.Done, 2, 1, "expired"), (done.Status, done.Completed, done.Errored, done.Batch!.Status));
        var results = await _h.Store.ResultsAsync(run.Id, CancellationToken.None);
        Assert.Contains("batch_expired", results.Single(r => r.Error is not null).Error, StringComparison.Ordinal);
        Assert.True(done.CanRetry);
        var cap = await EvalCapAsync();
        Assert.Equal((0L, done.CostMicros), (cap.ReservedMicros, cap.SpentMicros));
    }

    [Fact]
    public async Task BatchRun_Cancelled_CancelsTheProviderBatch_ReleasesTheHolds_AndEndsCancelled()
    {
        await SetEvalCapAsync(50_000_000);
        _mock.PollsUntilDone = 100;
        var set = await _h.SetAsync(DemoData.AcmeId, "One?", "Two?");
        var run = await CreateAsync(set.Id, "bmock");
        await _h.Job.RunAsync(run.Id, CancellationToken.None);
        Assert.Equal("in_progress", (await _h.Batches.PollAsync(run.Id, CancellationToken.None))!.Batch!.Status);

        Assert.True(await _h.Store.CancelAsync(run.Id, CancellationToken.None));
        var done = await PollUntilFinishedAsync(run.Id);

        Assert.Contains(_mock.Requests, r => r.Method == "POST" && r.Path.EndsWith("/cancel", StringComparison.Ordinal));
        Assert.Equal((EvalRunStatus.Cancelled, "cancelled", 2), (done.Status, done.Batch!.Status, done.Errored));
        var cap = await EvalCapAsync();
        Assert.Equal((0L, 0L), (cap.ReservedMicros, cap.SpentMicros));
    }

    [Fact]
    public async Task BatchRun_RestartWhileTheBatchRuns_IsResumedOnTheSameProviderBatch_NotSubmittedTwice()
    {
        await SetEvalCapAsync(50_000_000);
        _mock.PollsUntilDone = 1;
        var set = await _h.SetAsync(DemoData.AcmeId, "One?", "Two?");
        var run = await CreateAsync(set.Id, "bmock");
        await _h.Job.RunAsync(run.Id, CancellationToken.None);

        // What a start does with the runs the previous process left: the embedded mode resumes them through the job.
        await using (var scope = _h.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<IEvalRunRecovery>().RecoverAsync(CancellationToken.None);
        }

        while (_h.Queue.Enqueued.TryDequeue(out var id))
        {
            await _h.Job.RunAsync(id, CancellationToken.None);
        }

        var done = await PollUntilFinishedAsync(run.Id);

        Assert.Equal(1, _mock.BatchCount);
        Assert.Equal((EvalRunStatus.Done, 2, 0), (done.Status, done.Completed, done.Errored));
        var cap = await EvalCapAsync();
        Assert.Equal((0L, done.CostMicros), (cap.ReservedMicros, cap.SpentMicros));
    }
}

public sealed class SqliteEvalBatchRunTests : EvalBatchRunTests
{
    protected override string Provider => "sqlite";
}

public sealed class PostgresEvalBatchRunTests : EvalBatchRunTests
{
    protected override string Provider => "postgres";
}
