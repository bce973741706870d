using System.Collections.Concurrent;
using Hangfire;
using Keystone.Data.Evals;
using Keystone.Data.Prompts;
using Keystone.Gateway;
using Keystone.Web.Features.Prompts;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Evals;

/// <summary>Hands a queued run to a worker (Hangfire in the app; a test may run the job itself).</summary>
internal interface IEvalRunQueue
{
    void Enqueue(Guid runId);
}

/// <summary>
/// Enqueues <see cref="EvalRunJob"/> on Hangfire (in-memory in the embedded mode, PostgreSQL in the scaled one). The
/// client is resolved on the first enqueue, not at start: the start-up recovery usually has nothing to queue, and
/// Hangfire's client takes its logger from a process-wide provider at construction.
/// </summary>
internal sealed class HangfireEvalRunQueue(IServiceProvider services) : IEvalRunQueue
{
    public void Enqueue(Guid runId) => services.GetRequiredService<IBackgroundJobClient>().Enqueue<EvalRunJob>(j => j.RunAsync(runId, CancellationToken.None));
}

/// <summary>
/// Runs one eval run: claims it (only a queued run; a second job for the same run does nothing), answers each example
/// without a result through the gateway (feature <c>eval</c>, in the run's billing tenant: its aliases, caps and
/// reservation like any call, never from a cache), scores it, and writes the result with the run's totals in one
/// transaction. At most <c>Evals:RunConcurrency</c> examples at a time. Before each example it checks for a cancel, so a
/// cancel stops it at the next example boundary (answers in flight are finished and kept). A budget refusal fails the
/// run (every further call would be refused too); any other gateway error is that example's error, which a retry runs again.
/// </summary>
internal sealed class EvalRunJob(EvalRunStore store, ILlmGateway gateway, EvalDriftMonitor drift, IOptions<EvalsOptions> options, ILogger<EvalRunJob> log,
    EvalBatchRunner batch)
{
    /// <summary>The feature label eval calls are recorded and capped under.</summary>
    public const string Feature = "eval";

    [AutomaticRetry(Attempts = 0)] // The run's own status says what happened; a blind re-run would answer examples twice.
    public async Task RunAsync(Guid runId, CancellationToken ct)
    {
        var worker = Guid.NewGuid().ToString("N");
        if (await store.ClaimAsync(runId, worker, ct) && !(await batch.TakeAsync(runId, worker, ct)).Handled)
        {
            // A batch run is submitted (or resumed) by the batch runner and moved on by its poll job (decision 0049).
            await RunClaimedAsync(runId, worker, ct);
        }
    }

    /// <summary>The work of a run <paramref name="worker"/> holds, to its end (done, cancelled, failed, or back to the queue when the host stops).</summary>
    internal async Task<EvalRunStatus?> RunClaimedAsync(Guid runId, string worker, CancellationToken ct)
    {
        string? failure = null;
        try
        {
            failure = await ExecuteAsync(runId, worker, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The host is stopping: the run goes back to the queue below and the next start resumes it.
        }
        catch (Exception ex)
        {
            log.LogError(ex, "Eval run {RunId} stopped on an unexpected error", runId);
            failure = $"The run stopped on an unexpected error ({ex.GetType().Name}); retry runs the examples left.";
        }

        var status = await store.FinishAsync(runId, worker, failure, ct.IsCancellationRequested, CancellationToken.None);
        log.LogInformation("Eval run {RunId} ended {Status}", runId, status?.ToString() ?? "elsewhere");
        if (status == EvalRunStatus.Done)
        {
            await CheckDriftAsync(runId);
        }

        return status;
    }

    /// <summary>
    /// Every done run (nightly, manual, the gate's) goes past the drift check, which acts only on a run of the version
    /// active in its scope. A failed check is logged and leaves the run as it is: the run's result stands either way.
    /// </summary>
    private async Task CheckDriftAsync(Guid runId)
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

    private async Task<string?> ExecuteAsync(Guid runId, string worker, CancellationToken ct)
    {
        var (run, version, pending, _) = await store.PlanAsync(runId, ct);
        if (run.PromptVersionId is not null && version is null)
        {
            return "The prompt version this run was created for no longer exists.";
        }

        // One judge version for the whole run, so every result of it was graded by the same instructions.
        var judge = await store.JudgePromptAsync(ct);

        var stop = 0;
        var failures = new ConcurrentQueue<string>();
        await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = options.Value.RunConcurrency, CancellationToken = ct },
            async (example, token) =>
            {
                // The example boundary: nothing new starts once a cancel was asked, the run was lost, or a budget refused.
                if (Volatile.Read(ref stop) == 1 || await store.ShouldStopAsync(runId, worker, token))
                {
                    Interlocked.Exchange(ref stop, 1);
                    return;
                }

                var (result, fatal) = await AnswerAsync(run, version, judge, example, token);
                if (fatal is not null)
                {
                    failures.Enqueue(fatal);
                    Interlocked.Exchange(ref stop, 1);
                    return;
                }

                if (!await store.WriteResultAsync(run, worker, result!, token))
                {
                    Interlocked.Exchange(ref stop, 1);
                }
            });
        return failures.TryPeek(out var first) ? first : null;
    }

    /// <summary>One example: the answer and its score, or the example's error; or a reason that fails the whole run.</summary>
    private async Task<(EvalResult? Result, string? Fatal)> AnswerAsync(EvalRun run, PromptVersion? version, PromptVersion? judge, EvalExample example, CancellationToken ct)
    {
        if (example.InputJson.Length == 0)
        {
            return (Errored(example.Id, "The example was deleted after the run was created."), null);
        }

        var input = EvalSetStore.InputOf(example);
        var context = new CallContext
        {
            TenantId = run.BillingTenantId,
            Feature = Feature,
            PromptName = run.PromptName,
            PromptVersionId = run.PromptVersionId,
        };
        ChatRequest request;
        try
        {
            request = RequestOf(run, version, input);
        }
        catch (PromptException ex)
        {
            return (Errored(example.Id, $"The example does not fit version {run.PromptVersionNumber}: {ex.Message}"), null);
        }

        try
        {
            var answer = await gateway.CompleteAsync(request, context, ct);
            var score = await EvalScorers.ScoreExampleAsync(input, answer, new EvalScoringCalls(gateway, context, JudgePrompt: judge), ct);
            var judged = score.Scores.FirstOrDefault(s => s.Kind == EvalExpectation.Judge);
            return (new EvalResult
            {
                Id = Guid.NewGuid(), ExampleId = example.Id, Answer = score.Answer, Score = score.Score, Passed = score.Passed, Reasons = score.Reason,
                InputTokens = score.InputTokens, OutputTokens = score.OutputTokens, CostMicros = score.CostMicros, LatencyMs = score.LatencyMs,
                TraceId = answer.Outcome.TraceId,
                JudgePromptVersionId = judged?.JudgeVersionId,
                JudgePromptVersion = judged?.JudgeVersion,
            }, null);
        }
        catch (GatewayException ex) when (ex.Error.Code is GatewayErrorCodes.BudgetExceeded or GatewayErrorCodes.BudgetUnavailable)
        {
            return (null, $"The budget refused the run's calls: {ex.Message}");
        }
        catch (GatewayException ex)
        {
            var errored = Errored(example.Id, $"{ex.Error.Code}: {ex.Message}");
            errored.CostMicros = ex.Outcome?.CostMicros ?? 0;
            errored.LatencyMs = ex.Outcome?.LatencyMs ?? 0;
            errored.TraceId = ex.Outcome?.TraceId;
            return (errored, null);
        }
    }

    /// <summary>
    /// The gateway request of an example: a variables example rendered with the run's version (its system and user
    /// templates, temperature, max tokens, schema); a messages example sent as recorded. Either on the run's alias,
    /// never answered from a cache (a cached answer would measure an old answer, not the model).
    /// </summary>
    public static ChatRequest RequestOf(EvalRun run, PromptVersion? version, EvalExampleInput input)
    {
        if (version is not null && input.Variables is not null)
        {
            return PromptRenderer.Render(version, input.Variables) with { Model = run.Alias, Cache = false };
        }

        if (input.Messages is { Count: > 0 } messages)
        {
            return new ChatRequest
            {
                Model = run.Alias,
                Messages = messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList(),
                Temperature = version?.Temperature,
                MaxTokens = version?.MaxTokens,
                Cache = false,
            };
        }

        throw new PromptException(PromptException.MissingVariable, "it has neither variables for a prompt version nor messages.");
    }

    private static EvalResult Errored(Guid exampleId, string error) => new()
    {
        Id = Guid.NewGuid(), ExampleId = exampleId, Answer = "", Score = 0, Passed = false, Reasons = "", Error = error,
    };
}

/// <summary>
/// The watchdog: every minute, an unfinished run silent for longer than <c>Evals:StallMinutes</c> is failed with its
/// reason (a running run without a result, a queued run no worker took), so no run sits queued or running silently.
/// </summary>
internal sealed class EvalRunWatchdogJob(EvalRunStore store, ILogger<EvalRunWatchdogJob> log)
{
    public const string RecurringId = "evals:watchdog";
    public const string Cron = "* * * * *";

    public async Task RunAsync(CancellationToken ct)
    {
        foreach (var id in await store.FailStalledAsync(ct))
        {
            log.LogWarning("Eval run {RunId} made no progress and was marked failed", id);
        }
    }
}
