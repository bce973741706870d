using System.Globalization;
using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Data.Prompts;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// The activation gate (issue 23; docs/decisions/0041-eval-activation-gate.md): before a prompt version becomes active in
/// a scope, its eval set is run on it (or a fresh done run is reused) and on the version active there (its latest done
/// run, else a new one), and activation is refused when the new score is more than the prompt's tolerance for the scope
/// (<see cref="EvalTolerances"/>, default <c>Evals:GateTolerancePoints</c>) below the active one's, unless a prompt editor
/// writes a reason (audited with both scores). The new version's done run becomes the baseline drift is measured
/// against. Implements the seam the prompt page calls, so Prompts does not depend on Evals.
/// </summary>
internal sealed class EvalActivationGate(
    KeystoneDbFactory dbFactory, EvalRunner runner, PromptCatalog catalog, EvalDriftMonitor drift, AuditLog audit, IOptions<EvalsOptions> options,
    TimeProvider clock)
    : IPromptActivationGate
{
    /// <summary>Longest override reason kept (characters).</summary>
    public const int MaxReasonLength = 1000;

    public async Task<ActivationGateCheck> CheckAsync(string promptName, int version, Guid? tenantId, bool startRuns, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var slug = PromptCatalog.Slug(promptName);
        var prompt = await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == slug, ct)
            ?? throw new PromptException(PromptException.NotFound, $"There is no prompt named '{promptName}'.");
        var candidate = await db.PromptVersions.AsNoTracking().SingleOrDefaultAsync(v => v.PromptId == prompt.Id && v.Number == version, ct)
            ?? throw new PromptException(PromptException.VersionNotFound, $"The prompt '{prompt.Name}' has no version {version}.");

        // The scope's own set (a tenant override's set); a tenant without one is gated on the global set.
        var set = await SetWithExamplesAsync(db, prompt.Name, tenantId, ct) ?? (tenantId is null ? null : await SetWithExamplesAsync(db, prompt.Name, null, ct));
        var tolerance = (await EvalTolerances.EffectiveAsync(db, prompt.Name, tenantId, options.Value.GateTolerancePoints, ct)).Points;
        if (set is null)
        {
            return new ActivationGateCheck(ActivationGateVerdict.NoSet,
                $"“{prompt.Name}” has no eval set with examples{(tenantId is null ? "" : " for this tenant or globally")}, so there is nothing to gate on: activation is not checked.",
                null, tolerance, null, null);
        }

        var activeId = await PromptRenderer.ActiveVersionIdAsync(db, prompt.Id, tenantId, ct);
        var active = activeId is { } a ? await db.PromptVersions.AsNoTracking().SingleAsync(v => v.Id == a, ct) : null;
        if (active is null || active.Id == candidate.Id)
        {
            var why = active is null ? "Nothing is active here yet" : $"Version {version} is already active here";
            return new ActivationGateCheck(ActivationGateVerdict.NothingToCompare, $"{why}, so there is no score it could fall below: activation is allowed.",
                set.Name, tolerance, null, null);
        }

        var fresh = clock.GetUtcNow().UtcDateTime.AddHours(-options.Value.GateFreshHours);
        var candidateSide = await SideAsync(db, set, candidate, fresh, startRuns, ct);
        // The bar is the score the active version was accepted with (its activation's baseline, decision 42), not its latest
        // run: after a drift the latest run is worse, and comparing with it would let a worse version through.
        var activeSide = await BaselineSideAsync(db, prompt.Id, tenantId, set, active, ct) ?? await SideAsync(db, set, active, null, startRuns, ct);
        return Verdict(set.Name, tolerance, candidateSide, activeSide);
    }

    /// <summary>
    /// The active version's side from the baseline of the activation that made it active in the scope (the gate's run, or
    /// the first done run after the activation) on this set; null when there is none (nothing measured it since, a set
    /// added later), and the gate falls back to the version's latest done run.
    /// </summary>
    private async Task<ActivationGateSide?> BaselineSideAsync(KeystoneDbContext db, Guid promptId, Guid? tenantId, EvalSet set, PromptVersion active, CancellationToken ct)
    {
        var activation = await EvalDriftMonitor.ScopeActivationAsync(db, promptId, tenantId, ct);
        if (activation?.VersionId != active.Id)
        {
            return null;
        }

        var runId = await db.EvalBaselines.AsNoTracking().Where(b => b.ActivationId == activation.Id && b.SetId == set.Id && b.PromptVersionId == active.Id)
            .Select(b => (Guid?)b.RunId).SingleOrDefaultAsync(ct);
        if (runId is null || await runner.Store.GetAsync(runId.Value, ct) is not { Status: EvalRunStatus.Done } run)
        {
            return null;
        }

        return new ActivationGateSide(active.Number, run.Alias, run.Id, "baseline", true, run.ScorePoints, run.PassRate, run.CostPerExampleMicros,
            run.Completed, run.Total, run.FinishedUtc, null);
    }

    public async Task<ActivationGateCheck> ActivateAsync(string promptName, int version, Guid? tenantId, string? overrideReason, CancellationToken ct)
    {
        if (!catalog.CanEdit)
        {
            throw new UnauthorizedAccessException("Only prompt editors may change prompts.");
        }

        var reason = overrideReason?.Trim();
        if (reason is { Length: > MaxReasonLength })
        {
            throw new PromptException(PromptException.Invalid, $"The reason may be at most {MaxReasonLength} characters.");
        }

        var check = await CheckAsync(promptName, version, tenantId, startRuns: true, ct);
        if (!check.Passes && string.IsNullOrEmpty(reason))
        {
            throw new PromptException(PromptException.Invalid, $"{check.Message} To activate anyway, write why.");
        }

        await catalog.ActivateAsync(promptName, version, tenantId, ct);
        if (check.Candidate is { Done: true, RunId: { } measured })
        {
            // The score the version was accepted with: later runs of it are compared with this one (drift).
            await drift.RecordGateBaselineAsync(PromptCatalog.Slug(promptName), tenantId, measured, ct);
        }

        if (check.Verdict != ActivationGateVerdict.NoSet)
        {
            var overridden = !check.Passes;
            await audit.WriteAsync(overridden ? "prompt.activate.gate_override" : "prompt.activate.gate", $"prompt:{PromptCatalog.Slug(promptName)}", tenantId, new
            {
                version,
                verdict = check.Verdict.ToString().ToLowerInvariant(),
                reason = overridden ? reason : null,
                set = check.SetName,
                tolerance = check.TolerancePoints,
                candidate = Audited(check.Candidate),
                active = Audited(check.Active),
            }, ct);
        }

        return check;
    }

    private static object? Audited(ActivationGateSide? side) => side is null ? null : new
    {
        version = side.Version, alias = side.Alias, run = side.RunId, status = side.Status, score = side.ScorePoints, passRate = side.PassRate,
        costPerExampleMicros = side.CostPerExampleMicros,
    };

    private static ActivationGateCheck Verdict(string setName, double tolerance, ActivationGateSide candidate, ActivationGateSide active)
    {
        if (candidate.Problem is not null || active.Problem is not null)
        {
            var problem = string.Join(" ", new[] { candidate, active }.Where(s => s.Problem is not null).Select(s => $"Version {s.Version}: {s.Problem}"));
            return new ActivationGateCheck(ActivationGateVerdict.Unavailable, $"There is no score to compare. {problem} Check again to start a new run.", setName, tolerance, candidate, active);
        }

        if (!candidate.Done || !active.Done)
        {
            var waiting = string.Join(" and ", new[] { candidate, active }.Where(s => !s.Done).Select(s => $"version {s.Version} ({s.Completed} of {s.Total} examples)"));
            return new ActivationGateCheck(ActivationGateVerdict.Pending, $"The eval runs are not finished: {waiting}. Activation waits for both scores.", setName, tolerance, candidate, active);
        }

        var newScore = candidate.ScorePoints ?? 0;
        var oldScore = active.ScorePoints ?? 0;
        var drop = oldScore - newScore;
        var f = CultureInfo.InvariantCulture;
        // "baseline": the active side is the score its activation was accepted with (not its latest, possibly drifted, run).
        var basis = active.Status == "baseline" ? ", its baseline at activation" : "";
        return drop > tolerance
            ? new ActivationGateCheck(ActivationGateVerdict.Blocked,
                string.Create(f, $"Blocked: version {candidate.Version} scores {newScore:0.0}, {drop:0.0} points below version {active.Version} ({oldScore:0.0}{basis}); the tolerance is {tolerance:0.#} points."),
                setName, tolerance, candidate, active)
            : new ActivationGateCheck(ActivationGateVerdict.Allowed,
                string.Create(f, $"Version {candidate.Version} scores {newScore:0.0} against {oldScore:0.0} for version {active.Version}{basis}: within the tolerance of {tolerance:0.#} points."),
                setName, tolerance, candidate, active);
    }

    private static async Task<EvalSet?> SetWithExamplesAsync(KeystoneDbContext db, string promptName, Guid? tenantId, CancellationToken ct)
    {
        var set = await db.EvalSets.AsNoTracking().SingleOrDefaultAsync(s => s.Name == promptName && s.PromptName == promptName && s.TenantId == tenantId, ct);
        return set is not null && await db.EvalExamples.AnyAsync(e => e.TenantId == set.TenantId && e.EvalSet == set.Name, ct) ? set : null;
    }

    /// <summary>
    /// The run that measures <paramref name="version"/> on the set with its own alias: the newest done run (finished after
    /// <paramref name="freshAfter"/> when given), else the newest unfinished one, else a new run when
    /// <paramref name="startRuns"/>, else the newest failed or cancelled one (shown with its reason).
    /// </summary>
    private async Task<ActivationGateSide> SideAsync(KeystoneDbContext db, EvalSet set, PromptVersion version, DateTime? freshAfter, bool startRuns, CancellationToken ct)
    {
        var runs = db.EvalRuns.AsNoTracking().Where(r => r.SetId == set.Id && r.PromptVersionId == version.Id && r.Alias == version.ModelAlias);
        var done = runs.Where(r => r.Status == EvalRunStatus.Done);
        if (freshAfter is { } after)
        {
            done = done.Where(r => r.FinishedUtc >= after);
        }

        var runId = await done.OrderByDescending(r => r.FinishedUtc).Select(r => (Guid?)r.Id).FirstOrDefaultAsync(ct)
            ?? await runs.Where(r => r.Status == EvalRunStatus.Queued || r.Status == EvalRunStatus.Running)
                .OrderByDescending(r => r.CreatedUtc).Select(r => (Guid?)r.Id).FirstOrDefaultAsync(ct);
        if (runId is null && startRuns)
        {
            try
            {
                runId = (await runner.StartAsync(new EvalRunRequest(set.Id, version.Number, version.ModelAlias, EvalRunTrigger.Activation), ct)).Id;
            }
            catch (EvalException ex)
            {
                // The prompt page speaks the prompts feature's errors; the message stays the plain words of the refusal.
                throw ex.Code == EvalException.Forbidden ? new UnauthorizedAccessException(ex.Message) : new PromptException(PromptException.Invalid, ex.Message);
            }
        }

        runId ??= await runs.OrderByDescending(r => r.CreatedUtc).Select(r => (Guid?)r.Id).FirstOrDefaultAsync(ct);
        if (runId is null || await runner.Store.GetAsync(runId.Value, ct) is not { } run)
        {
            return new ActivationGateSide(version.Number, version.ModelAlias, null, "not run", false, null, null, null, 0, 0, null, null);
        }

        var problem = run.Status is EvalRunStatus.Failed or EvalRunStatus.Cancelled
            ? $"its run was {run.Status.ToString().ToLowerInvariant()}{(run.FailureReason is { } r ? $" ({r})" : "")}."
            : null;
        return new ActivationGateSide(version.Number, run.Alias, run.Id, run.Status.ToString().ToLowerInvariant(), run.Status == EvalRunStatus.Done,
            run.ScorePoints, run.PassRate, run.CostPerExampleMicros, run.Completed, run.Total, run.FinishedUtc, problem);
    }
}
