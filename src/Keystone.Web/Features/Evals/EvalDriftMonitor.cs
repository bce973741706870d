using System.Globalization;
using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Audit;
using Keystone.Data.Evals;
using Keystone.Data.Prompts;
using Keystone.Gateway;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// Drift (issue 23, item 2; docs/decisions/0042-eval-drift.md): after a run finishes done, when it measured the version
/// active in its set's scope on that version's own alias, it is compared with the baseline of that activation: the
/// activation gate's run of the version, else the first done run after the activation (which this check records as the
/// baseline). A score more than the scope's tolerance below the baseline raises a drift alert (stored, audited, pushed to
/// the console's notifications); one open alert per scope and version, so nightly runs of a still-drifted version do not
/// pile up alerts.
/// </summary>
internal sealed class EvalDriftMonitor(
    KeystoneDbFactory dbFactory, ILlmGateway gateway, AuditLog audit, ConsoleNotificationSignal signal, IOptions<EvalsOptions> options, TimeProvider clock, ILogger<EvalDriftMonitor> log)
{
    /// <summary>A score change smaller than this (0..1) is not a change (floating sums).</summary>
    private const double Epsilon = 0.0005;

    /// <summary>Most changed examples kept on an alert.</summary>
    public const int MaxChangedExamples = 100;

    /// <summary>Source of a baseline taken from the activation gate's run.</summary>
    public const string FromGate = "gate";

    /// <summary>Source of a baseline taken from the first done run after the activation.</summary>
    public const string FromFirstRun = "first_run";

    /// <summary>Checks one finished run; returns the alert raised, or null (not the active version, the baseline itself, within tolerance, or already alerted).</summary>
    public async Task<EvalDriftAlert?> CheckRunAsync(Guid runId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var run = await db.EvalRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, ct);
        if (run is not { Status: EvalRunStatus.Done } || run.Completed == 0)
        {
            return null;
        }

        if (run.PromptName is null)
        {
            return await CheckFeatureRunAsync(db, run, ct);
        }

        if (run.PromptVersionId is not { } versionId)
        {
            return null;
        }

        var promptName = run.PromptName;
        var prompt = await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == promptName, ct);
        var version = await db.PromptVersions.AsNoTracking().SingleOrDefaultAsync(v => v.Id == versionId, ct);
        if (prompt is null || version is null || !string.Equals(run.Alias, version.ModelAlias, StringComparison.Ordinal))
        {
            // A run on another alias is a comparison (smart vs fast), not a measure of the version as it serves.
            return null;
        }

        var scope = run.TenantId;
        var activation = await ScopeActivationAsync(db, prompt.Id, scope, ct);
        if (activation is null || activation.VersionId != versionId || run.FinishedUtc < activation.ActivatedUtc)
        {
            return null;
        }

        var score = Points(run);
        var baseline = await db.EvalBaselines.AsNoTracking().SingleOrDefaultAsync(b => b.ActivationId == activation.Id && b.SetId == run.SetId, ct);
        if (baseline is null)
        {
            await RecordBaselineAsync(new EvalBaseline
            {
                Id = Guid.NewGuid(), TenantId = scope, PromptName = promptName, ActivationId = activation.Id, PromptVersionId = versionId,
                VersionNumber = version.Number, SetId = run.SetId, Alias = run.Alias, RunId = run.Id, ScorePoints = score, Source = FromFirstRun,
                CreatedUtc = clock.GetUtcNow().UtcDateTime,
            }, ct);
            return null;
        }

        if (baseline.RunId == run.Id)
        {
            return null;
        }

        var tolerance = await EvalTolerances.EffectiveAsync(db, promptName, scope, options.Value.GateTolerancePoints, ct);
        return await RaiseAsync(db, run, new EvalDriftAlert
        {
            PromptName = promptName, PromptVersionId = versionId, VersionNumber = version.Number, ActivationId = activation.Id,
            BaselineRunId = baseline.RunId, BaselineScorePoints = baseline.ScorePoints, TolerancePoints = tolerance.Points,
            OpenKey = OpenKeyOf(promptName, scope, versionId),
        }, ct);
    }

    /// <summary>
    /// Drift of a feature's set (docs/decisions/0050-feature-sets-nightly-and-gate-baseline.md): the set has no prompt
    /// version, so what it measures is the model its nightly alias routes to. The baseline is the first done run on the
    /// nightly alias after the alias was chosen (read, not stored: two runs finishing at once agree on it); a later run on
    /// that alias scoring more than <c>Evals:GateTolerancePoints</c> below it raises an alert. Runs on other aliases are
    /// comparisons. One open alert per set and alias.
    /// </summary>
    private async Task<EvalDriftAlert?> CheckFeatureRunAsync(KeystoneDbContext db, EvalRun run, CancellationToken ct)
    {
        var set = await db.EvalSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == run.SetId, ct);
        if (set is not { Feature: not null, NightlyAlias: { } alias, NightlyAliasSinceUtc: { } since }
            || !string.Equals(run.Alias, alias, StringComparison.Ordinal) || run.FinishedUtc < since)
        {
            return null;
        }

        var baseline = await db.EvalRuns.AsNoTracking()
            .Where(r => r.SetId == set.Id && r.Alias == alias && r.Status == EvalRunStatus.Done && r.Completed > 0 && r.FinishedUtc >= since)
            .OrderBy(r => r.FinishedUtc).ThenBy(r => r.Id).FirstOrDefaultAsync(ct);
        if (baseline is null || baseline.Id == run.Id)
        {
            return null;
        }

        return await RaiseAsync(db, run, new EvalDriftAlert
        {
            PromptName = set.Name, BaselineRunId = baseline.Id, BaselineScorePoints = Points(baseline), TolerancePoints = options.Value.GateTolerancePoints,
            OpenKey = $"{set.Name}|{EvalSet.OwnerKeyOf(set.TenantId)}|{alias}",
        }, ct);
    }

    /// <summary>
    /// Stores <paramref name="alert"/> (its subject, baseline and tolerance filled by the caller) when <paramref name="run"/>
    /// scored more than the tolerance below the baseline, audits it and tells the console; null when within tolerance or
    /// an alert for the same subject is open already.
    /// </summary>
    private async Task<EvalDriftAlert?> RaiseAsync(KeystoneDbContext db, EvalRun run, EvalDriftAlert alert, CancellationToken ct)
    {
        var score = Points(run);
        if (alert.BaselineScorePoints - score <= alert.TolerancePoints)
        {
            return null;
        }

        var changed = await ChangedExamplesAsync(db, alert.BaselineRunId, run.Id, ct);
        alert.Id = Guid.NewGuid();
        alert.TenantId = run.TenantId;
        alert.Alias = run.Alias;
        alert.Model = await ModelOfAsync(db, run, ct);
        alert.SetId = run.SetId;
        alert.SetName = run.SetName;
        alert.RunId = run.Id;
        alert.ScorePoints = score;
        alert.ChangedExamplesJson = JsonSerializer.Serialize(changed, EvalDriftAlerts.Json);
        alert.Status = EvalDriftStatus.Open;
        alert.CreatedUtc = clock.GetUtcNow().UtcDateTime;
        db.EvalDriftAlerts.Add(alert);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
        {
            // An open alert for this scope and version (or feature and alias) exists, or another run raised it a moment ago: it already says so.
            return null;
        }

        var f = CultureInfo.InvariantCulture;
        await audit.WriteAsync(new AuditEntry
        {
            ActorType = "system", ActorId = "evals:drift", ActorName = "drift check", TenantId = run.TenantId, Action = "eval.drift",
            Target = alert.VersionNumber is null ? $"eval_set:{run.SetId}" : $"prompt:{alert.PromptName}",
            MetadataJson = JsonSerializer.Serialize(new
            {
                alert = alert.Id, version = alert.VersionNumber, alias = run.Alias, model = alert.Model, set = run.SetName, baselineRun = alert.BaselineRunId,
                run = run.Id, baseline = alert.BaselineScorePoints, score, tolerance = alert.TolerancePoints, changedExamples = changed.Count,
            }),
        }, ct);
        log.LogWarning("Drift: {Subject} v{Version} on {Alias} scored {Score} against its baseline {Baseline} (tolerance {Tolerance})",
            alert.PromptName, alert.VersionNumber, run.Alias, score.ToString("0.0", f), alert.BaselineScorePoints.ToString("0.0", f), alert.TolerancePoints.ToString("0.#", f));
        signal.Raise();
        return alert;
    }

    /// <summary>
    /// Records the activation gate's run as the baseline of the activation just made (<paramref name="tenantId"/>'s scope):
    /// called by the gate after it activated with a done run of the version. Nothing when the baseline exists already.
    /// </summary>
    public async Task RecordGateBaselineAsync(string promptName, Guid? tenantId, Guid runId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var run = await db.EvalRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId && r.Status == EvalRunStatus.Done, ct);
        var prompt = await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == promptName, ct);
        if (run is not { PromptVersionId: { } versionId, PromptVersionNumber: { } number } || prompt is null || run.Completed == 0)
        {
            return;
        }

        var activation = await ScopeActivationAsync(db, prompt.Id, tenantId, ct);
        if (activation?.VersionId != versionId)
        {
            return;
        }

        await RecordBaselineAsync(new EvalBaseline
        {
            Id = Guid.NewGuid(), TenantId = tenantId, PromptName = promptName, ActivationId = activation.Id, PromptVersionId = versionId,
            VersionNumber = number, SetId = run.SetId, Alias = run.Alias, RunId = run.Id, ScorePoints = Points(run), Source = FromGate,
            CreatedUtc = clock.GetUtcNow().UtcDateTime,
        }, ct);
    }

    /// <summary>
    /// The activation that made the scope's version active: a tenant's latest override row when it names a version, else
    /// the latest global row (the tenant follows the global version). Null when nothing is active.
    /// </summary>
    public static async Task<PromptActivation?> ScopeActivationAsync(KeystoneDbContext db, Guid promptId, Guid? tenantId, CancellationToken ct)
    {
        if (tenantId is { } t)
        {
            var own = await db.PromptActivations.AsNoTracking().Where(a => a.PromptId == promptId && a.TenantId == t)
                .OrderByDescending(a => a.Id).FirstOrDefaultAsync(ct);
            if (own?.VersionId is not null)
            {
                return own;
            }
        }

        return await db.PromptActivations.AsNoTracking().Where(a => a.PromptId == promptId && a.TenantId == null)
            .OrderByDescending(a => a.Id).FirstOrDefaultAsync(ct);
    }

    /// <summary>The key that lets one alert per scope and version be open.</summary>
    public static string OpenKeyOf(string promptName, Guid? tenantId, Guid versionId) => $"{promptName}|{EvalSet.OwnerKeyOf(tenantId)}|{versionId:N}";

    /// <summary>A run's score in points, as the run page shows it (errored examples score 0).</summary>
    public static double Points(EvalRun run) => run.Completed == 0 ? 0 : Math.Round(run.ScoreSum / run.Completed * 100, 1);

    private async Task RecordBaselineAsync(EvalBaseline baseline, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        db.EvalBaselines.Add(baseline);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
        {
            // Another run finished first and became the baseline of this activation: the first one stands.
        }
    }

    private static async Task<List<EvalDriftExample>> ChangedExamplesAsync(KeystoneDbContext db, Guid baselineRunId, Guid runId, CancellationToken ct)
    {
        var rows = await db.EvalResults.AsNoTracking().Where(r => r.RunId == baselineRunId || r.RunId == runId)
            .Select(r => new { r.RunId, r.ExampleId, r.Score, r.Passed }).ToListAsync(ct);
        var before = rows.Where(r => r.RunId == baselineRunId).ToDictionary(r => r.ExampleId);
        return rows.Where(r => r.RunId == runId && before.ContainsKey(r.ExampleId))
            .Select(r => (now: r, then: before[r.ExampleId]))
            .Where(x => Math.Abs(x.now.Score - x.then.Score) > Epsilon || x.now.Passed != x.then.Passed)
            .OrderBy(x => x.now.Score - x.then.Score)
            .Take(MaxChangedExamples)
            .Select(x => new EvalDriftExample(x.now.ExampleId, Math.Round(x.then.Score, 3), Math.Round(x.now.Score, 3), x.then.Passed, x.now.Passed))
            .ToList();
    }

    /// <summary>
    /// The <c>provider/model</c> that answered most of the run's examples (its answer calls by trace id); while the
    /// recorder has not written those calls yet, the alias's first target in the run's billing tenant.
    /// </summary>
    private async Task<string?> ModelOfAsync(KeystoneDbContext db, EvalRun run, CancellationToken ct)
    {
        var traces = await db.EvalResults.AsNoTracking().Where(r => r.RunId == run.Id && r.TraceId != null).Select(r => r.TraceId!.Value)
            .Take(500).ToListAsync(ct);
        var calls = traces.Count == 0 ? [] : await db.Calls.AsNoTracking().Where(c => traces.Contains(c.TraceId) && c.Model != null)
            .Select(c => new { c.Provider, c.Model }).ToListAsync(ct);
        if (calls.GroupBy(c => $"{c.Provider}/{c.Model}").OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault() is { } answered)
        {
            return answered;
        }

        try
        {
            var models = await gateway.ModelsAsync(run.BillingTenantId, ct);
            return models.FirstOrDefault(m => m.Id == run.Alias)?.Targets is { Count: > 0 } targets ? targets[0] : null;
        }
        catch (GatewayException)
        {
            return null;
        }
    }
}
