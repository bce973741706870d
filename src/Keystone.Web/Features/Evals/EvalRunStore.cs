using System.Text.Json;
using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Data.Prompts;
using Keystone.Web.Features.Prompts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// Eval runs in the database: create (queued), claim, write results, finish, cancel, retry, and the reads of the run
/// page, the API and the command. Every state change is one conditional statement (or one transaction), so two
/// workers, a cancel and the watchdog racing on one run leave one consistent outcome; a result and the run's totals are
/// written in one transaction, so a result row is complete or absent and the totals always equal the rows' sums.
/// Platform staff and the job work across tenants (all-tenants scope, as <see cref="EvalSetStore"/>); the API checks the
/// key's tenant before it calls here.
/// </summary>
internal sealed class EvalRunStore(KeystoneDbFactory dbFactory, IOptions<EvalsOptions> options, TimeProvider clock)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>How often the console's live views of runs read again (<c>Evals:PageRefreshSeconds</c>).</summary>
    public TimeSpan PageRefresh => TimeSpan.FromSeconds(options.Value.PageRefreshSeconds);

    /// <summary>
    /// Creates a queued run of the set: the version (given, else the one active for the set's owner) and the alias (given,
    /// else the version's) are resolved now and the examples are fixed now, so the run measures what was asked even if
    /// the set or the activation changes before it starts. Throws <see cref="EvalException"/> for an unknown set or
    /// version, an empty set, or a set over the size limit.
    /// </summary>
    public async Task<EvalRunView> CreateAsync(EvalRunRequest request, EvalRunStarter starter, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var set = await db.EvalSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == request.SetId, ct)
            ?? throw new EvalException(EvalException.NotFound, "There is no such eval set (it may have been deleted).");
        if (request.Alias is { } a && (a.Trim().Length is 0 or > 128))
        {
            throw new EvalException(EvalException.Invalid, "The alias must be 1 to 128 characters.");
        }

        PromptVersion? version = null;
        if (set.PromptName is { } promptName)
        {
            version = await VersionOfAsync(db, promptName, set.TenantId, request.Version, ct);
        }
        else if (request.Version is not null)
        {
            throw new EvalException(EvalException.Invalid, $"The set \"{set.Name}\" belongs to no prompt, so it has no versions: leave the version out.");
        }

        // A feature's set has no version: without an alias asked for, it runs on its nightly alias (the nightly job asks for none).
        var alias = request.Alias?.Trim() ?? version?.ModelAlias ?? set.NightlyAlias;
        if (string.IsNullOrWhiteSpace(alias))
        {
            throw new EvalException(EvalException.Invalid, "Choose the model alias to run the set on.");
        }

        var exampleIds = await db.EvalExamples.AsNoTracking().Where(e => e.TenantId == set.TenantId && e.EvalSet == set.Name)
            .OrderBy(e => e.CreatedUtc).ThenBy(e => e.Id).Select(e => e.Id).ToListAsync(ct);
        if (exampleIds.Count == 0)
        {
            throw new EvalException(EvalException.Invalid, $"The set \"{set.Name}\" has no examples yet: add some before running it.");
        }

        if (exampleIds.Count > options.Value.MaxExamplesPerRun)
        {
            throw new EvalException(EvalException.Invalid,
                $"The set has {exampleIds.Count:N0} examples; a run takes at most {options.Value.MaxExamplesPerRun:N0} (Evals:MaxExamplesPerRun).");
        }

        var billing = set.TenantId ?? await PlatformTenantAsync(db, ct);
        var run = new EvalRun
        {
            Id = Guid.NewGuid(), TenantId = set.TenantId, BillingTenantId = billing, SetId = set.Id, SetName = set.Name, PromptName = set.PromptName,
            PromptVersionId = version?.Id, PromptVersionNumber = version?.Number, Alias = alias, Status = EvalRunStatus.Queued,
            Trigger = request.Trigger, Mode = request.Mode, ExampleIdsJson = JsonSerializer.Serialize(exampleIds, Json), Total = exampleIds.Count,
            StartedByUserId = Clip(starter.Id, 64), StartedByName = starter.Name is null ? null : Clip(starter.Name, 256), CreatedUtc = Now, HeartbeatUtc = Now,
        };
        db.EvalRuns.Add(run);
        await db.SaveChangesAsync(ct);
        return (await GetAsync(run.Id, ct))!;
    }

    /// <summary>
    /// The tenant a global prompt's runs are attributed to: <c>Evals:PlatformTenant</c> (a slug), else the first tenant by
    /// name (as prompt test runs do, docs/decisions/0030-prompt-workbench.md).
    /// </summary>
    private async Task<Guid> PlatformTenantAsync(KeystoneDbContext db, CancellationToken ct)
    {
        var slug = options.Value.PlatformTenant?.Trim();
        if (!string.IsNullOrEmpty(slug))
        {
            return await db.Tenants.AsNoTracking().Where(t => t.Slug == slug).Select(t => (Guid?)t.Id).SingleOrDefaultAsync(ct)
                ?? throw new EvalException(EvalException.Invalid, $"Evals:PlatformTenant names the tenant \"{slug}\", which does not exist: global runs have no tenant to be attributed to.");
        }

        return await db.Tenants.AsNoTracking().OrderBy(t => t.Name).ThenBy(t => t.Id).Select(t => (Guid?)t.Id).FirstOrDefaultAsync(ct)
            ?? throw new EvalException(EvalException.Invalid, "There is no tenant to attribute a global prompt's eval calls to.");
    }

    /// <summary>
    /// What the start form offers for a set: its prompt's version numbers (newest first), the one active for the set's
    /// owner, its alias, and the tenant whose aliases apply (the set's, or the platform tenant for a global set).
    /// </summary>
    public async Task<EvalRunChoices?> ChoicesAsync(Guid setId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var set = await db.EvalSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == setId, ct);
        if (set is null)
        {
            return null;
        }

        Guid billing;
        try
        {
            billing = set.TenantId ?? await PlatformTenantAsync(db, ct);
        }
        catch (EvalException)
        {
            billing = Guid.Empty;
        }

        var prompt = set.PromptName is null ? null : await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == set.PromptName, ct);
        if (prompt is null)
        {
            return new EvalRunChoices([], null, null, billing);
        }

        var versions = await db.PromptVersions.AsNoTracking().Where(v => v.PromptId == prompt.Id).OrderByDescending(v => v.Number)
            .Select(v => new { v.Id, v.Number, v.ModelAlias }).ToListAsync(ct);
        var active = await PromptRenderer.ActiveVersionIdAsync(db, prompt.Id, set.TenantId, ct);
        var activeRow = versions.FirstOrDefault(v => v.Id == active);
        return new EvalRunChoices(versions.Select(v => v.Number).ToList(), activeRow?.Number, activeRow?.ModelAlias ?? versions.FirstOrDefault()?.ModelAlias, billing);
    }

    private static async Task<PromptVersion> VersionOfAsync(KeystoneDbContext db, string promptName, Guid? tenantId, int? number, CancellationToken ct)
    {
        var prompt = await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == promptName, ct)
            ?? throw new EvalException(EvalException.NotFound, $"There is no prompt named \"{promptName}\".");
        if (number is { } n)
        {
            return await db.PromptVersions.AsNoTracking().SingleOrDefaultAsync(v => v.PromptId == prompt.Id && v.Number == n, ct)
                ?? throw new EvalException(EvalException.NotFound, $"The prompt \"{promptName}\" has no version {n}.");
        }

        var active = await PromptRenderer.ActiveVersionIdAsync(db, prompt.Id, tenantId, ct)
            ?? throw new EvalException(EvalException.Invalid, $"The prompt \"{promptName}\" has no active version: choose the version to run.");
        return await db.PromptVersions.AsNoTracking().SingleAsync(v => v.Id == active, ct);
    }

    /// <summary>One run; null when there is none.</summary>
    public async Task<EvalRunView?> GetAsync(Guid runId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var run = await db.EvalRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, ct);
        return run is null ? null : (await ViewsAsync(db, [run], ct))[0];
    }

    /// <summary>Runs, newest first: of one set, or of every set of one prompt (null: all).</summary>
    public async Task<IReadOnlyList<EvalRunView>> ListAsync(Guid? setId, string? promptName, int take, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var runs = await db.EvalRuns.AsNoTracking()
            .Where(r => (setId == null || r.SetId == setId) && (promptName == null || r.PromptName == promptName))
            .OrderByDescending(r => r.CreatedUtc).ThenBy(r => r.Id).Take(Math.Clamp(take, 1, 500)).ToListAsync(ct);
        return await ViewsAsync(db, runs, ct);
    }

    /// <summary>A run's results in the set's order of examples.</summary>
    public async Task<IReadOnlyList<EvalResultView>> ResultsAsync(Guid runId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var ids = await db.EvalRuns.AsNoTracking().Where(r => r.Id == runId).Select(r => r.ExampleIdsJson).SingleOrDefaultAsync(ct);
        if (ids is null)
        {
            return [];
        }

        var order = ExampleIdsOf(ids).Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
        var rows = await db.EvalResults.AsNoTracking().Where(r => r.RunId == runId).ToListAsync(ct);
        return rows.OrderBy(r => order.GetValueOrDefault(r.ExampleId, int.MaxValue)).Select(r => new EvalResultView(r.Id, r.ExampleId, r.Attempt, r.Answer,
            r.Score, r.Passed, r.Reasons, r.Error, r.InputTokens, r.OutputTokens, r.CostMicros, r.LatencyMs, r.TraceId, r.CreatedUtc, r.JudgePromptVersion)).ToList();
    }

    /// <summary>
    /// Takes a queued run for <paramref name="workerId"/> (one conditional update: of two workers, one wins). False when
    /// the run is not queued (already taken, finished, cancelled or gone): the job has nothing to do.
    /// </summary>
    public async Task<bool> ClaimAsync(Guid runId, string workerId, CancellationToken ct)
    {
        var now = Now;
        await using var db = dbFactory.ForSystem();
        return await db.EvalRuns.Where(r => r.Id == runId && r.Status == EvalRunStatus.Queued && !r.CancelRequested)
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Status, EvalRunStatus.Running)
                .SetProperty(r => r.WorkerId, workerId)
                .SetProperty(r => r.HeartbeatUtc, now)
                .SetProperty(r => r.StartedUtc, r => r.StartedUtc ?? now), ct) == 1;
    }

    /// <summary>What a worker needs: the run, the version (null for a set without a prompt) and the examples that have no result yet.</summary>
    public async Task<(EvalRun Run, PromptVersion? Version, IReadOnlyList<EvalExample> Pending, int Missing)> PlanAsync(Guid runId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var run = await db.EvalRuns.AsNoTracking().SingleAsync(r => r.Id == runId, ct);
        var version = run.PromptVersionId is { } v ? await db.PromptVersions.AsNoTracking().SingleOrDefaultAsync(x => x.Id == v, ct) : null;
        var ids = ExampleIdsOf(run.ExampleIdsJson);
        var done = (await db.EvalResults.AsNoTracking().Where(r => r.RunId == runId).Select(r => r.ExampleId).ToListAsync(ct)).ToHashSet();
        var wanted = ids.Where(id => !done.Contains(id)).ToList();
        var examples = await db.EvalExamples.AsNoTracking().Where(e => wanted.Contains(e.Id)).ToDictionaryAsync(e => e.Id, ct);
        // Examples deleted since the run was created: the worker records them as errored ("deleted") so the totals add up.
        var pending = wanted.Select(id => examples.GetValueOrDefault(id) ?? new EvalExample { Id = id, InputJson = "" }).ToList();
        return (run, version, pending, wanted.Count - examples.Count);
    }

    /// <summary>
    /// The judge's instructions: the global active version of the <c>eval-judge</c> prompt (a rollback is an activation
    /// of an older one), else its newest version (the file shipped in <c>prompts/eval-judge/</c> before anyone activated
    /// it); null when there is no such prompt, and the judge uses its built-in instructions.
    /// </summary>
    public async Task<PromptVersion?> JudgePromptAsync(CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var prompt = await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == EvalScorers.JudgePromptName, ct);
        if (prompt is null)
        {
            return null;
        }

        var active = await PromptRenderer.ActiveVersionIdAsync(db, prompt.Id, null, ct);
        return await db.PromptVersions.AsNoTracking().Where(v => v.PromptId == prompt.Id && (active == null || v.Id == active))
            .OrderByDescending(v => v.Number).FirstOrDefaultAsync(ct);
    }

    /// <summary>True when the worker should take no further example: a cancel was asked, or the run is no longer its own.</summary>
    public async Task<bool> ShouldStopAsync(Guid runId, string workerId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        return !await db.EvalRuns.AnyAsync(r => r.Id == runId && r.WorkerId == workerId && r.Status == EvalRunStatus.Running && !r.CancelRequested, ct);
    }

    /// <summary>
    /// Writes one result and adds it to the run's totals in one transaction, only while <paramref name="workerId"/> holds
    /// the running run. False when it no longer does (the watchdog failed it, a retry or restart gave it to another
    /// worker): nothing is written. A second result for the same example (a race after a restart) is refused by the
    /// unique index and changes nothing.
    /// </summary>
    public async Task<bool> WriteResultAsync(EvalRun run, string workerId, EvalResult result, CancellationToken ct)
    {
        var now = Now;
        result.RunId = run.Id;
        result.TenantId = run.TenantId;
        result.Attempt = run.Attempt;
        result.CreatedUtc = now;
        result.Answer = Clip(result.Answer, 64_000);
        result.Reasons = Clip(result.Reasons, 8000);
        result.Error = result.Error is null ? null : Clip(result.Error, 2000);
        var passed = result.Passed ? 1 : 0;
        var errored = result.Error is null ? 0 : 1;
        try
        {
            await using var db = dbFactory.ForSystem();
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var held = await db.EvalRuns.Where(r => r.Id == run.Id && r.WorkerId == workerId && r.Status == EvalRunStatus.Running)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.Completed, r => r.Completed + 1)
                    .SetProperty(r => r.Passed, r => r.Passed + passed)
                    .SetProperty(r => r.Errored, r => r.Errored + errored)
                    .SetProperty(r => r.ScoreSum, r => r.ScoreSum + result.Score)
                    .SetProperty(r => r.CostMicros, r => r.CostMicros + result.CostMicros)
                    .SetProperty(r => r.InputTokens, r => r.InputTokens + result.InputTokens)
                    .SetProperty(r => r.OutputTokens, r => r.OutputTokens + result.OutputTokens)
                    .SetProperty(r => r.LatencyMsSum, r => r.LatencyMsSum + result.LatencyMs)
                    .SetProperty(r => r.HeartbeatUtc, now), ct);
            if (held == 0)
            {
                return false;
            }

            db.EvalResults.Add(result);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return true;
        }
        catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
        {
            // Rolled back with the transaction: the example already has its result, the totals count it once.
            return true;
        }
    }

    /// <summary>
    /// Ends the worker's hold: failed with <paramref name="failure"/>; else cancelled when a cancel was asked; else done
    /// when every example has its result; else (the host is stopping) back to queued for the next start. Nothing when the
    /// worker no longer holds the run.
    /// </summary>
    public async Task<EvalRunStatus?> FinishAsync(Guid runId, string workerId, string? failure, bool stopping, CancellationToken ct)
    {
        var now = Now;
        await using var db = dbFactory.ForSystem();
        var run = await db.EvalRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId && r.WorkerId == workerId && r.Status == EvalRunStatus.Running, ct);
        if (run is null)
        {
            return null;
        }

        var status = failure is not null ? EvalRunStatus.Failed
            : run.CancelRequested ? EvalRunStatus.Cancelled
            : run.Completed >= run.Total ? EvalRunStatus.Done
            : stopping ? EvalRunStatus.Queued
            : EvalRunStatus.Failed;
        var reason = status == EvalRunStatus.Failed
            ? failure ?? $"The run stopped with {run.Total - run.Completed} of {run.Total} examples unanswered."
            : null;
        var finished = status == EvalRunStatus.Queued ? (DateTime?)null : now;
        var changed = await db.EvalRuns.Where(r => r.Id == runId && r.WorkerId == workerId && r.Status == EvalRunStatus.Running)
            .ExecuteUpdateAsync(s => s
                .SetProperty(r => r.Status, status)
                .SetProperty(r => r.FailureReason, reason)
                .SetProperty(r => r.WorkerId, (string?)null)
                .SetProperty(r => r.HeartbeatUtc, now)
                .SetProperty(r => r.FinishedUtc, finished), ct);
        return changed == 1 ? status : null;
    }

    /// <summary>
    /// Asks a run to stop. A queued run is cancelled at once; a running one stops at the next example boundary (its worker
    /// checks before each example). False when the run is already over or gone.
    /// </summary>
    public async Task<bool> CancelAsync(Guid runId, CancellationToken ct)
    {
        var now = Now;
        await using var db = dbFactory.ForSystem();
        var queued = await db.EvalRuns.Where(r => r.Id == runId && r.Status == EvalRunStatus.Queued)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, EvalRunStatus.Cancelled).SetProperty(r => r.CancelRequested, true)
                .SetProperty(r => r.FinishedUtc, now), ct);
        if (queued == 1)
        {
            return true;
        }

        return await db.EvalRuns.Where(r => r.Id == runId && r.Status == EvalRunStatus.Running && !r.CancelRequested)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.CancelRequested, true), ct) == 1;
    }

    /// <summary>
    /// Queues a finished run again for its failed examples only: the errored results are removed (and taken off the
    /// totals) in one transaction, the attempt counter goes up, and the worker answers every example without a result
    /// (the errored ones, and those a cancel or failure left unanswered). Scored results stay as they are. False when the
    /// run is not finished or has nothing to retry.
    /// </summary>
    public async Task<bool> RetryAsync(Guid runId, CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var run = await db.EvalRuns.SingleOrDefaultAsync(r => r.Id == runId, ct);
        if (run is null || run.Status is EvalRunStatus.Queued or EvalRunStatus.Running || (run.Errored == 0 && run.Completed >= run.Total))
        {
            return false;
        }

        var errored = await db.EvalResults.Where(r => r.RunId == runId && r.Error != null).ToListAsync(ct);
        db.EvalResults.RemoveRange(errored);
        run.Completed -= errored.Count;
        run.Errored -= errored.Count;
        run.Passed -= errored.Count(r => r.Passed);
        run.ScoreSum -= errored.Sum(r => r.Score);
        run.CostMicros -= errored.Sum(r => r.CostMicros);
        run.InputTokens -= errored.Sum(r => (long)r.InputTokens);
        run.OutputTokens -= errored.Sum(r => (long)r.OutputTokens);
        run.LatencyMsSum -= errored.Sum(r => (long)r.LatencyMs);
        run.Status = EvalRunStatus.Queued;
        run.Attempt++;
        run.CancelRequested = false;
        run.FailureReason = null;
        run.FinishedUtc = null;
        run.WorkerId = null;
        run.HeartbeatUtc = Now;
        try
        {
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return true;
        }
        catch (DbUpdateException ex) when (WriteConflicts.IsConflict(ex))
        {
            return false;
        }
    }

    /// <summary>
    /// The watchdog's sweep: a running run without progress for <c>Evals:StallMinutes</c>, or a queued run no worker took
    /// in that time, is failed with the reason. One conditional update per run, so a result written meanwhile (fresh
    /// heartbeat) keeps it alive. Returns the runs failed.
    /// </summary>
    public async Task<IReadOnlyList<Guid>> FailStalledAsync(CancellationToken ct)
    {
        var now = Now;
        var stall = options.Value.StallTimeout;
        var cutoff = now - stall;
        await using var db = dbFactory.ForSystem();
        var candidates = await db.EvalRuns.AsNoTracking()
            .Where(r => (r.Status == EvalRunStatus.Running || r.Status == EvalRunStatus.Queued) && r.HeartbeatUtc < cutoff)
            .Select(r => new { r.Id, r.Status, r.HeartbeatUtc, r.Completed, r.Total }).ToListAsync(ct);
        var failed = new List<Guid>();
        foreach (var c in candidates)
        {
            var minutes = options.Value.StallMinutes;
            var reason = c.Status == EvalRunStatus.Running
                ? $"No progress for {minutes} minute{(minutes == 1 ? "" : "s")} (last result at {c.HeartbeatUtc:yyyy-MM-dd HH:mm:ss} UTC, {c.Completed} of {c.Total} done): its worker stopped or hung. Retry runs the examples left."
                : $"No worker started the run within {minutes} minute{(minutes == 1 ? "" : "s")}: the job queue is stuck or the job was lost. Retry queues it again.";
            var status = c.Status;
            var heartbeat = c.HeartbeatUtc;
            var changed = await db.EvalRuns.Where(r => r.Id == c.Id && r.Status == status && r.HeartbeatUtc == heartbeat)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, EvalRunStatus.Failed).SetProperty(r => r.FailureReason, reason)
                    .SetProperty(r => r.WorkerId, (string?)null).SetProperty(r => r.FinishedUtc, now), ct);
            if (changed == 1)
            {
                failed.Add(c.Id);
            }
        }

        return failed;
    }

    /// <summary>Unfinished runs (queued or running), oldest first, for the start-up recovery.</summary>
    public async Task<IReadOnlyList<(Guid Id, EvalRunStatus Status)>> UnfinishedAsync(CancellationToken ct)
    {
        await using var db = dbFactory.ForSystem();
        var rows = await db.EvalRuns.AsNoTracking().Where(r => r.Status == EvalRunStatus.Queued || r.Status == EvalRunStatus.Running)
            .OrderBy(r => r.CreatedUtc).Select(r => new { r.Id, r.Status }).ToListAsync(ct);
        return rows.Select(r => (r.Id, r.Status)).ToList();
    }

    /// <summary>Gives a running run back to the queue (its worker died with the previous process); false when it was not running.</summary>
    public async Task<bool> ReleaseAsync(Guid runId, CancellationToken ct)
    {
        var now = Now;
        await using var db = dbFactory.ForSystem();
        return await db.EvalRuns.Where(r => r.Id == runId && r.Status == EvalRunStatus.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, EvalRunStatus.Queued).SetProperty(r => r.WorkerId, (string?)null)
                .SetProperty(r => r.HeartbeatUtc, now), ct) == 1;
    }

    /// <summary>Fails a run the worker cannot run at all (its version was deleted, ...).</summary>
    public Task<EvalRunStatus?> FailAsync(Guid runId, string workerId, string reason, CancellationToken ct) => FinishAsync(runId, workerId, reason, false, ct);

    private static async Task<IReadOnlyList<EvalRunView>> ViewsAsync(KeystoneDbContext db, List<EvalRun> runs, CancellationToken ct)
    {
        if (runs.Count == 0)
        {
            return [];
        }

        var tenants = await db.Tenants.AsNoTracking().Select(t => new { t.Id, t.Name }).ToDictionaryAsync(t => t.Id, t => t.Name, ct);
        return runs.Select(r => new EvalRunView(r.Id, r.SetId, r.SetName, r.TenantId,
            r.TenantId is { } t ? tenants.GetValueOrDefault(t, t.ToString()) : "Global", r.BillingTenantId, r.PromptName, r.PromptVersionNumber, r.Alias,
            r.Status, r.Trigger, r.Total, r.Completed, r.Passed, r.Errored, r.ScoreSum, r.CostMicros, r.InputTokens, r.OutputTokens, r.LatencyMsSum,
            r.Attempt, r.CancelRequested, r.FailureReason, r.StartedByName ?? r.StartedByUserId, r.CreatedUtc, r.StartedUtc, r.FinishedUtc,
            r.Mode, EvalBatchState.ViewOf(r.BatchStateJson))).ToList();
    }

    private static List<Guid> ExampleIdsOf(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<List<Guid>>(json, Json) ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    private static string Clip(string text, int max) => text.Length > max ? text[..max] : text;
}
