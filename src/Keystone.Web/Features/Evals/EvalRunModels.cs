using Keystone.Data.Evals;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// What to run: a set (by id) against a prompt version (null: the version active for the set's owner) on an alias (null:
/// the version's), live (default) or as one provider batch.
/// </summary>
internal sealed record EvalRunRequest(Guid SetId, int? Version, string? Alias, EvalRunTrigger Trigger, EvalRunMode Mode = EvalRunMode.Live);

/// <summary>Who started a run (a console user, an API key, the schedule or the command line).</summary>
internal sealed record EvalRunStarter(string Id, string? Name);

/// <summary>A run as shown: its status, progress and totals. Score and pass rate are over the results written so far.</summary>
internal sealed record EvalRunView(
    Guid Id, Guid SetId, string SetName, Guid? TenantId, string Owner, Guid BillingTenantId, string? PromptName, int? Version, string Alias,
    EvalRunStatus Status, EvalRunTrigger Trigger, int Total, int Completed, int Passed, int Errored, double ScoreSum,
    long CostMicros, long InputTokens, long OutputTokens, long LatencyMsSum, int Attempt, bool CancelRequested, string? FailureReason,
    string StartedBy, DateTime CreatedUtc, DateTime? StartedUtc, DateTime? FinishedUtc, EvalRunMode Mode = EvalRunMode.Live,
    EvalBatchView? Batch = null)
{
    /// <summary>True once the run will change no more (done, failed or cancelled).</summary>
    public bool IsFinished => Status is EvalRunStatus.Done or EvalRunStatus.Failed or EvalRunStatus.Cancelled;

    /// <summary>Mean score of the results so far, in points (0-100); null before the first result.</summary>
    public double? ScorePoints => Completed == 0 ? null : Math.Round(ScoreSum / Completed * 100, 1);

    /// <summary>Share of results that passed (0..1); null before the first result.</summary>
    public double? PassRate => Completed == 0 ? null : (double)Passed / Completed;

    /// <summary>Mean cost of one example (answer plus scorers), micro-USD; null before the first result.</summary>
    public long? CostPerExampleMicros => Completed == 0 ? null : CostMicros / Completed;

    /// <summary>Share of examples with a result (0..1).</summary>
    public double Progress => Total == 0 ? 1 : (double)Completed / Total;

    /// <summary>A retry has something to do: the run is over and some examples errored or were never answered.</summary>
    public bool CanRetry => IsFinished && (Errored > 0 || Completed < Total);

    /// <summary>A cancel has something to stop.</summary>
    public bool CanCancel => !IsFinished && !CancelRequested;
}

/// <summary>One example's result as shown; <see cref="JudgePromptVersion"/> is the <c>eval-judge</c> version its judge scorer used (null: no judge, or the built-in instructions).</summary>
internal sealed record EvalResultView(Guid Id, Guid ExampleId, int Attempt, string Answer, double Score, bool Passed, string Reasons, string? Error,
    int InputTokens, int OutputTokens, long CostMicros, int LatencyMs, Guid? TraceId, DateTime CreatedUtc, int? JudgePromptVersion = null);

/// <summary>The start form's choices for a set: version numbers (newest first), the active one, its alias, and the tenant whose aliases apply.</summary>
internal sealed record EvalRunChoices(IReadOnlyList<int> Versions, int? ActiveVersion, string? DefaultAlias, Guid BillingTenantId);
