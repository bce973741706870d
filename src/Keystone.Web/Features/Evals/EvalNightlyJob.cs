using Keystone.Data;
using Keystone.Data.Evals;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// The nightly schedule: every prompt's eval set (the global one and each tenant override's) is run on the version
/// active for its owner and that version's alias, and every feature's set that has a nightly alias on that alias
/// (docs/decisions/0050-feature-sets-nightly-and-gate-baseline.md), as a provider batch where that is cheaper
/// (<see cref="EvalsOptions.NightlyBatch"/>, decision 0049). Re-entrant: a set that already has a scheduled run from the last
/// <see cref="Window"/> is left alone, so a retried or doubled job queues nothing twice. A set without examples or a
/// prompt without an active version is skipped (and logged).
/// </summary>
internal sealed class EvalNightlyJob(KeystoneDbFactory dbFactory, EvalRunStore runs, IEvalRunQueue queue, EvalBatchRunner batch,
    IOptions<EvalsOptions> options, TimeProvider clock, ILogger<EvalNightlyJob> log)
{
    public const string RecurringId = "evals:nightly";

    /// <summary>02:00 UTC.</summary>
    public const string Cron = "0 2 * * *";

    /// <summary>A scheduled run younger than this counts as tonight's.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromHours(20);

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var since = clock.GetUtcNow().UtcDateTime - Window;
        List<Guid> sets;
        HashSet<Guid> done;
        await using (var db = dbFactory.ForSystem())
        {
            sets = await db.EvalSets.AsNoTracking().Where(s => s.PromptName != null || (s.Feature != null && s.NightlyAlias != null)).OrderBy(s => s.Name).ThenBy(s => s.OwnerKey).Select(s => s.Id).ToListAsync(ct);
            done = (await db.EvalRuns.AsNoTracking().Where(r => r.Trigger == EvalRunTrigger.Schedule && r.CreatedUtc >= since).Select(r => r.SetId).ToListAsync(ct)).ToHashSet();
        }

        var queued = 0;
        foreach (var setId in sets.Where(id => !done.Contains(id)))
        {
            try
            {
                var mode = await ModeAsync(setId, ct);
                var run = await runs.CreateAsync(new EvalRunRequest(setId, null, null, EvalRunTrigger.Schedule, mode), new EvalRunStarter("schedule", "nightly schedule"), ct);
                queue.Enqueue(run.Id);
                queued++;
            }
            catch (EvalException ex)
            {
                // No examples, no active version, no tenant to attribute to: nothing to measure tonight.
                log.LogInformation("Nightly eval of set {SetId} skipped: {Reason}", setId, ex.Message);
            }
        }

        log.LogInformation("Nightly evals queued {Count} run(s)", queued);
        return queued;
    }

    /// <summary>
    /// Batch when <see cref="EvalsOptions.NightlyBatch"/> is on and a batch of this set on its nightly alias (a feature's
    /// chosen alias, else the active version's) would cost less than running it live: the provider has a batch interface
    /// and the price table a batch discount for the model. Anything else, or anything unknown, runs live.
    /// </summary>
    private async Task<EvalRunMode> ModeAsync(Guid setId, CancellationToken ct)
    {
        if (!options.Value.NightlyBatch)
        {
            return EvalRunMode.Live;
        }

        string? alias;
        await using (var db = dbFactory.ForSystem())
        {
            alias = await db.EvalSets.AsNoTracking().Where(s => s.Id == setId).Select(s => s.NightlyAlias).SingleOrDefaultAsync(ct);
        }

        alias ??= (await runs.ChoicesAsync(setId, ct))?.DefaultAlias;
        var estimate = alias is null ? null : await batch.EstimateAsync(setId, null, alias, ct);
        return estimate is { BatchMicros: { } cost } && cost < estimate.LiveMicros ? EvalRunMode.Batch : EvalRunMode.Live;
    }
}
