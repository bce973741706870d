using System.Text.Json;
using Hangfire;
using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Gateway;
using Keystone.Web.Features.Prompts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Evals;

/// <summary>A batch run's state as stored in <c>eval_runs.batch_state_json</c>.</summary>
/// <param name="Attempt">The run attempt the batch was submitted for (a retry submits a new batch).</param>
/// <param name="Ticket">The gateway's ticket: the provider batch and each line's call id and hold.</param>
/// <param name="Status">The provider's last reported status.</param>
/// <param name="Completed">Requests answered so far, as the provider counts them.</param>
/// <param name="Failed">Requests failed so far.</param>
/// <param name="CancelAsked">The provider was asked to cancel the batch.</param>
/// <param name="Error">Why the whole batch failed, if it did.</param>
/// <param name="PolledUtc">When the provider was last asked.</param>
internal sealed record EvalBatchState(int Attempt, BatchTicket Ticket, string Status, int Completed, int Failed, bool CancelAsked, string? Error, DateTime PolledUtc)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static EvalBatchState? Parse(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<EvalBatchState>(json, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>What the run page and the API show of a batch run's provider batch; null before submission.</summary>
    public static EvalBatchView? ViewOf(string? json) => Parse(json) is { } s
        ? new EvalBatchView(s.Ticket.BatchId, s.Ticket.Provider + "/" + s.Ticket.Model, s.Status, s.Ticket.Lines.Count, s.Completed, s.Failed,
            s.Ticket.ReservedMicros, s.Error, s.Ticket.SubmittedUtc, s.PolledUtc)
        : null;
}

/// <summary>A batch run's provider batch as shown: its id and model, the provider's status and counts, what is held for it.</summary>
internal sealed record EvalBatchView(string BatchId, string Model, string Status, int Total, int Completed, int Failed, long HeldMicros, string? Error,
    DateTime SubmittedUtc, DateTime PolledUtc);

/// <summary>Moves batch runs on soon after submission (Hangfire in the app; a test polls itself).</summary>
internal interface IEvalBatchPollQueue
{
    void PollLater(Guid runId, TimeSpan delay);
}

/// <summary>Schedules <see cref="EvalBatchPollJob.RunOneAsync"/> on Hangfire (resolved on first use, as <see cref="HangfireEvalRunQueue"/>).</summary>
internal sealed class HangfireEvalBatchPollQueue(IServiceProvider services) : IEvalBatchPollQueue
{
    public void PollLater(Guid runId, TimeSpan delay)
        => services.GetRequiredService<IBackgroundJobClient>().Schedule<EvalBatchPollJob>(j => j.RunOneAsync(runId, CancellationToken.None), delay);
}

/// <summary>
/// Batch mode of eval runs (docs/decisions/0049-eval-batch-mode.md). A claimed batch run is submitted as one provider
/// batch through <see cref="IBatchGateway"/> (the whole batch's worst case held on the caps first, or the run fails with
/// the refusal and nothing is submitted); the poll job asks the provider every minute, keeps the status and counts on the
/// run (the run page reads them live) and its heartbeat fresh (so the watchdog leaves a waiting batch alone); a cancel
/// asks the provider to cancel. When the provider is done, one poller takes the run over (a conditional swap of its
/// worker), the gateway settles each line at the batch price and records it as a call, and each answer is scored with
/// the same scorers and judge as a live run (the judge's own calls go live) and written with the run's totals, exactly
/// as the live worker writes them; then the run is finished and goes past the drift check like a live one.
/// </summary>
internal sealed class EvalBatchRunner(
    KeystoneDbFactory dbFactory,
    EvalRunStore store,
    IBatchGateway batches,
    ILlmGateway gateway,
    EvalDriftMonitor drift,
    IEvalBatchPollQueue polls,
    IOptions<EvalsOptions> options,
    TimeProvider clock,
    ILogger<EvalBatchRunner> log)
{
    /// <summary>How soon after submission (and after each early poll) the run is polled again, before the minute's schedule takes over.</summary>
    internal static readonly TimeSpan EarlyPoll = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan EarlyPollWindow = TimeSpan.FromMinutes(2);

    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>
    /// For a run <paramref name="worker"/> has just claimed: a live run is not this class's (false); a batch run is
    /// submitted (or, when its batch was submitted for this attempt already, resumed: its holds restored after a restart).
    /// Returns the budget's refusal when the caps cannot hold the batch (the run is then failed with it; nothing was submitted).
    /// </summary>
    public async Task<(bool Handled, GatewayError? Refusal)> TakeAsync(Guid runId, string worker, CancellationToken ct)
    {
        EvalRun? run;
        await using (var db = dbFactory.ForSystem())
        {
            run = await db.EvalRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, ct);
        }

        if (run is null || run.Mode != EvalRunMode.Batch)
        {
            return (false, null);
        }

        if (EvalBatchState.Parse(run.BatchStateJson) is { } state && state.Attempt == run.Attempt)
        {
            await ResumeAsync(run, state, ct);
            return (true, null);
        }

        return (true, await SubmitAsync(run, worker, ct));
    }

    /// <summary>Holds a submitted batch's unsettled lines again (after a restart where holds lived in memory) and polls it soon.</summary>
    public async Task ResumeAsync(EvalRun run, EvalBatchState state, CancellationToken ct)
    {
        var (_, _, pending, _) = await store.PlanAsync(run.Id, ct);
        await batches.RestoreHoldsAsync(state.Ticket, pending.Select(e => CustomIdOf(e.Id)).ToHashSet(), ct);
        polls.PollLater(run.Id, EarlyPoll);
        log.LogInformation("Batch eval run {RunId} resumed on provider batch {BatchId}", run.Id, state.Ticket.BatchId);
    }

    /// <summary>Every running batch run with its batch id in the database (the start-up recovery of the embedded mode).</summary>
    public async Task<int> RestoreAllAsync(CancellationToken ct)
    {
        List<EvalRun> runs;
        await using (var db = dbFactory.ForSystem())
        {
            runs = await db.EvalRuns.AsNoTracking()
                .Where(r => r.Mode == EvalRunMode.Batch && r.Status == EvalRunStatus.Running && r.ProviderBatchId != null).ToListAsync(ct);
        }

        var count = 0;
        foreach (var run in runs)
        {
            if (EvalBatchState.Parse(run.BatchStateJson) is { } state && state.Attempt == run.Attempt)
            {
                await ResumeAsync(run, state, ct);
                count++;
            }
        }

        return count;
    }

    private async Task<GatewayError?> SubmitAsync(EvalRun claimed, string worker, CancellationToken ct)
    {
        var (run, version, pending, _) = await store.PlanAsync(claimed.Id, ct);
        if (run.PromptVersionId is not null && version is null)
        {
            await store.FailAsync(run.Id, worker, "The prompt version this run was created for no longer exists.", ct);
            return null;
        }

        var lines = new List<BatchRequestLine>(pending.Count);
        foreach (var example in pending)
        {
            // What the live worker writes as the example's error is written now: it is not part of the batch.
            if (example.InputJson.Length == 0)
            {
                await store.WriteResultAsync(run, worker, Errored(example.Id, "The example was deleted after the run was created."), ct);
                continue;
            }

            try
            {
                lines.Add(new BatchRequestLine(CustomIdOf(example.Id), EvalRunJob.RequestOf(run, version, EvalSetStore.InputOf(example))));
            }
            catch (PromptException ex)
            {
                await store.WriteResultAsync(run, worker, Errored(example.Id, $"The example does not fit version {run.PromptVersionNumber}: {ex.Message}"), ct);
            }
        }

        if (lines.Count == 0)
        {
            await FinishAsync(run.Id, worker, null, ct);
            return null;
        }

        BatchTicket ticket;
        try
        {
            ticket = await batches.SubmitAsync(ContextOf(run), run.Alias, lines, ct);
        }
        catch (GatewayException ex)
        {
            var reason = ex.Error.Code is GatewayErrorCodes.BudgetExceeded or GatewayErrorCodes.BudgetUnavailable
                ? $"The budget refused the batch: {ex.Message}"
                : $"The batch could not be submitted ({ex.Error.Code}): {ex.Message}";
            await store.FailAsync(run.Id, worker, reason, ct);
            return ex.Error;
        }

        var state = new EvalBatchState(run.Attempt, ticket, "validating", 0, 0, false, null, Now);
        var now = Now;
        await using (var db = dbFactory.ForSystem())
        {
            var saved = await db.EvalRuns.Where(r => r.Id == run.Id && r.WorkerId == worker && r.Status == EvalRunStatus.Running)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.ProviderBatchId, ticket.BatchId).SetProperty(r => r.BatchStateJson, state.ToJson())
                    .SetProperty(r => r.HeartbeatUtc, now), ct);
            if (saved == 0)
            {
                // The run was taken from this worker while submitting (the watchdog, a cancel of a queued run): the batch has
                // no run to report to, so it is cancelled at the provider and nothing it answers is kept.
                log.LogWarning("Batch eval run {RunId} was lost while its batch {BatchId} was submitted; the batch is cancelled", run.Id, ticket.BatchId);
                var progress = await batches.CancelAsync(ticket, CancellationToken.None);
                await batches.FinishAsync(ticket, progress with { Status = "cancelled", IsTerminal = true }, ContextOf(run), new Dictionary<string, ChatRequest>(),
                    ticket.Lines.Select(l => l.CustomId).ToList(), CancellationToken.None);
                return null;
            }
        }

        log.LogInformation("Batch eval run {RunId} submitted as provider batch {BatchId} ({Lines} requests)", run.Id, ticket.BatchId, lines.Count);
        polls.PollLater(run.Id, EarlyPoll);
        return null;
    }

    /// <summary>
    /// The worst case of running a set's examples on <paramref name="alias"/> live and as a batch, for the start form
    /// (the version given, else the one active for the set's owner); null when there is nothing to estimate or the model is unknown.
    /// </summary>
    public async Task<BatchEstimate?> EstimateAsync(Guid setId, int? versionNumber, string alias, CancellationToken ct)
    {
        if (await store.ChoicesAsync(setId, ct) is not { BillingTenantId: var billing } || billing == Guid.Empty)
        {
            return null;
        }

        var requests = new List<ChatRequest>();
        await using (var db = dbFactory.ForSystem())
        {
            var set = await db.EvalSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == setId, ct);
            if (set is null)
            {
                return null;
            }

            Keystone.Data.Prompts.PromptVersion? version = null;
            if (set.PromptName is { } name && await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == name, ct) is { } prompt)
            {
                var id = versionNumber is { } n
                    ? await db.PromptVersions.AsNoTracking().Where(v => v.PromptId == prompt.Id && v.Number == n).Select(v => (Guid?)v.Id).SingleOrDefaultAsync(ct)
                    : await PromptRenderer.ActiveVersionIdAsync(db, prompt.Id, set.TenantId, ct);
                version = id is null ? null : await db.PromptVersions.AsNoTracking().SingleOrDefaultAsync(v => v.Id == id, ct);
            }

            var run = new EvalRun { Alias = alias, PromptVersionNumber = version?.Number };
            var examples = await db.EvalExamples.AsNoTracking().Where(e => e.TenantId == set.TenantId && e.EvalSet == set.Name)
                .Take(options.Value.MaxExamplesPerRun).ToListAsync(ct);
            foreach (var example in examples)
            {
                try
                {
                    requests.Add(EvalRunJob.RequestOf(run, version, EvalSetStore.InputOf(example)));
                }
                catch (PromptException)
                {
                    // An example the version cannot render is not asked, live or batch.
                }
            }
        }

        try
        {
            return requests.Count == 0 ? null : await batches.EstimateAsync(new CallContext { TenantId = billing, Feature = EvalRunJob.Feature }, alias, requests, ct);
        }
        catch (GatewayException)
        {
            return null; // Not a model this tenant may use, or not priced: the start itself says why.
        }
    }

    /// <summary>Polls every running batch run (the minute's schedule). A failure of one run is logged and the others go on.</summary>
    public async Task<int> PollAllAsync(CancellationToken ct)
    {
        List<Guid> ids;
        await using (var db = dbFactory.ForSystem())
        {
            ids = await db.EvalRuns.AsNoTracking()
                .Where(r => r.Mode == EvalRunMode.Batch && r.Status == EvalRunStatus.Running && r.ProviderBatchId != null)
                .OrderBy(r => r.CreatedUtc).Select(r => r.Id).ToListAsync(ct);
        }

        var finished = 0;
        foreach (var id in ids)
        {
            try
            {
                finished += await PollAsync(id, ct) is { IsFinished: true } ? 1 : 0;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                log.LogError(ex, "Polling batch eval run {RunId} failed; the next poll tries again", id);
            }
        }

        return finished;
    }

    /// <summary>
    /// One poll of one batch run: asks the provider (or, after a cancel, asks it to cancel), keeps status and counts on the
    /// run, and finishes the run when the provider is done. Returns the run as it is after.
    /// </summary>
    public async Task<EvalRunView?> PollAsync(Guid runId, CancellationToken ct)
    {
        EvalRun? run;
        await using (var db = dbFactory.ForSystem())
        {
            run = await db.EvalRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId && r.Mode == EvalRunMode.Batch && r.Status == EvalRunStatus.Running, ct);
        }

        if (run?.WorkerId is not { } worker || EvalBatchState.Parse(run.BatchStateJson) is not { } state || state.Attempt != run.Attempt)
        {
            return await store.GetAsync(runId, ct);
        }

        var cancelNow = run.CancelRequested && !state.CancelAsked;
        BatchProgress progress;
        try
        {
            progress = cancelNow ? await batches.CancelAsync(state.Ticket, ct) : await batches.PollAsync(state.Ticket, ct);
        }
        catch (Exception ex) when (ex is ProviderException or GatewayException or HttpRequestException)
        {
            // The provider did not answer this time; the batch itself may be fine: the run waits and the next poll asks again
            // (a cancel too). Its holds stay, so nothing it spends meanwhile goes uncounted.
            log.LogWarning("Polling provider batch {BatchId} of eval run {RunId} failed: {Reason}", state.Ticket.BatchId, runId, ex.Message);
            progress = new BatchProgress(state.Status, state.Ticket.Lines.Count, state.Completed, state.Failed, false, $"The last poll failed: {ex.Message}");
            cancelNow = false;
        }

        var now = Now;
        var next = state with
        {
            Status = progress.Status, Completed = progress.Completed, Failed = progress.Failed, Error = progress.Error,
            CancelAsked = state.CancelAsked || cancelNow, PolledUtc = now,
        };
        await using (var db = dbFactory.ForSystem())
        {
            var json = next.ToJson();
            // A fresh heartbeat: the batch is alive at the provider, so the watchdog leaves the run alone while it waits.
            await db.EvalRuns.Where(r => r.Id == runId && r.WorkerId == worker && r.Status == EvalRunStatus.Running)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.BatchStateJson, json).SetProperty(r => r.HeartbeatUtc, now), ct);
        }

        if (progress.IsTerminal)
        {
            await CompleteAsync(run, worker, next, progress, ct);
        }
        else if (now - state.Ticket.SubmittedUtc < EarlyPollWindow)
        {
            polls.PollLater(runId, EarlyPoll);
        }

        return await store.GetAsync(runId, ct);
    }

    /// <summary>Takes the run over from <paramref name="holder"/> (one poller wins), settles and scores its lines, and finishes it.</summary>
    private async Task CompleteAsync(EvalRun run, string holder, EvalBatchState state, BatchProgress progress, CancellationToken ct)
    {
        var worker = Guid.NewGuid().ToString("N");
        await using (var db = dbFactory.ForSystem())
        {
            var taken = await db.EvalRuns.Where(r => r.Id == run.Id && r.WorkerId == holder && r.Status == EvalRunStatus.Running)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.WorkerId, worker).SetProperty(r => r.HeartbeatUtc, Now), ct);
            if (taken == 0)
            {
                return;
            }
        }

        var (current, version, pending, _) = await store.PlanAsync(run.Id, ct);
        var judge = await store.JudgePromptAsync(ct);
        var context = ContextOf(current);
        var examples = pending.ToDictionary(e => CustomIdOf(e.Id));
        var requests = new Dictionary<string, ChatRequest>(StringComparer.Ordinal);
        foreach (var (customId, example) in examples)
        {
            if (example.InputJson.Length == 0)
            {
                continue; // Deleted since the submission: its line is settled all the same, the result says so.
            }

            try
            {
                requests[customId] = EvalRunJob.RequestOf(current, version, EvalSetStore.InputOf(example));
            }
            catch (PromptException)
            {
                // Rendered when submitted; the version is gone or changed since: the trace shows no request.
            }
        }

        var outcomes = await batches.FinishAsync(state.Ticket, progress, context, requests,
            state.Ticket.Lines.Select(l => l.CustomId).Where(examples.ContainsKey).ToList(), ct);
        await Parallel.ForEachAsync(outcomes, new ParallelOptions { MaxDegreeOfParallelism = options.Value.RunConcurrency, CancellationToken = ct },
            async (outcome, token) =>
            {
                var example = examples[outcome.CustomId];
                var result = await ScoreAsync(example, outcome, context, judge, token);
                // False only when the run was taken from this worker meanwhile (the watchdog): nothing is written then.
                await store.WriteResultAsync(current, worker, result, token);
            });

        var failure = progress.Status is "failed" || (progress.Error is not null && progress.Status is not ("completed" or "expired" or "cancelled"))
            ? $"The provider's batch {state.Ticket.BatchId} ended {progress.Status}: {progress.Error ?? "no reason given"}. Retry submits the examples left in a new batch."
            : null;
        await FinishAsync(run.Id, worker, failure, ct);
    }

    private async Task FinishAsync(Guid runId, string worker, string? failure, CancellationToken ct)
    {
        var status = await store.FinishAsync(runId, worker, failure, stopping: false, ct);
        log.LogInformation("Batch eval run {RunId} ended {Status}", runId, status?.ToString() ?? "elsewhere");
        if (status == EvalRunStatus.Done)
        {
            try
            {
                await drift.CheckRunAsync(runId, CancellationToken.None);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                log.LogError(ex, "The drift check of eval run {RunId} failed", runId);
            }
        }
    }

    /// <summary>One line's result: the answer scored like a live one, or the line's error (its answer, if paid, kept with its cost).</summary>
    private async Task<EvalResult> ScoreAsync(EvalExample example, BatchLineOutcome outcome, CallContext context, Keystone.Data.Prompts.PromptVersion? judge,
        CancellationToken ct)
    {
        if (outcome.Result is not { } answer)
        {
            var failed = Errored(example.Id, outcome.Error ?? "The provider returned no result for this example.");
            failed.TraceId = outcome.TraceId;
            return failed;
        }

        if (example.InputJson.Length == 0)
        {
            var deleted = Errored(example.Id, "The example was deleted while its batch ran; its answer was paid and recorded.");
            deleted.CostMicros = answer.Outcome.CostMicros;
            deleted.TraceId = answer.Outcome.TraceId;
            return deleted;
        }

        var input = EvalSetStore.InputOf(example);
        try
        {
            var score = await EvalScorers.ScoreExampleAsync(input, answer, new EvalScoringCalls(gateway, context, JudgePrompt: judge), ct);
            var judged = score.Scores.FirstOrDefault(s => s.Kind == EvalExpectation.Judge);
            return new EvalResult
            {
                Id = Guid.NewGuid(), ExampleId = example.Id, Answer = score.Answer, Score = score.Score, Passed = score.Passed, Reasons = score.Reason,
                InputTokens = score.InputTokens, OutputTokens = score.OutputTokens, CostMicros = score.CostMicros, LatencyMs = score.LatencyMs,
                TraceId = answer.Outcome.TraceId, JudgePromptVersionId = judged?.JudgeVersionId, JudgePromptVersion = judged?.JudgeVersion,
            };
        }
        catch (GatewayException ex)
        {
            // A scorer's own call was refused or failed: the answer (paid at the batch price) is kept, the example errors.
            var errored = Errored(example.Id, $"Scoring failed ({ex.Error.Code}): {ex.Message}");
            errored.Answer = answer.Text;
            errored.CostMicros = answer.Outcome.CostMicros;
            errored.InputTokens = answer.Usage.InputTokens;
            errored.OutputTokens = answer.Usage.OutputTokens;
            errored.TraceId = answer.Outcome.TraceId;
            return errored;
        }
    }

    private static CallContext ContextOf(EvalRun run) => new()
    {
        TenantId = run.BillingTenantId,
        Feature = EvalRunJob.Feature,
        PromptName = run.PromptName,
        PromptVersionId = run.PromptVersionId,
    };

    /// <summary>A line's id in the provider batch: the example's id (32 hex digits).</summary>
    internal static string CustomIdOf(Guid exampleId) => exampleId.ToString("N");

    private static EvalResult Errored(Guid exampleId, string error) => new()
    {
        Id = Guid.NewGuid(), ExampleId = exampleId, Answer = "", Score = 0, Passed = false, Reasons = "", Error = error,
    };
}

/// <summary>
/// The batch runs' poll (docs/decisions/0049-eval-batch-mode.md): every minute, every running batch run is asked about
/// at its provider and finished when the provider is done; soon after a submission the run is also polled on its own.
/// </summary>
internal sealed class EvalBatchPollJob(EvalBatchRunner runner, ILogger<EvalBatchPollJob> log)
{
    public const string RecurringId = "evals:batch-poll";
    public const string Cron = "* * * * *";

    [AutomaticRetry(Attempts = 0)] // The next minute polls again; a blind retry would only repeat a provider error.
    public async Task RunAsync(CancellationToken ct)
    {
        var finished = await runner.PollAllAsync(ct);
        if (finished > 0)
        {
            log.LogInformation("Batch poll finished {Count} eval runs", finished);
        }
    }

    [AutomaticRetry(Attempts = 0)]
    public Task RunOneAsync(Guid runId, CancellationToken ct) => runner.PollAsync(runId, ct);
}
