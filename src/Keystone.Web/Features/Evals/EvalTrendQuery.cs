using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Web.Features.Prompts;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Evals;

/// <summary>
/// A prompt's score per version over time in one scope (issue 23, item 3): every done run of the scope's own sets of the
/// prompt on the version's own alias (runs on another alias are comparisons, not the version as it serves), with the
/// scope's activations and drift alerts in the same window, for the trend chart.
/// </summary>
internal sealed class EvalTrendQuery(KeystoneDbFactory dbFactory, TimeProvider clock)
{
    /// <summary>Most points read (about a year of nightly runs).</summary>
    public const int MaxPoints = 400;

    public async Task<EvalTrend> ReadAsync(string promptName, Guid? tenantId, int days, CancellationToken ct)
    {
        var slug = PromptCatalog.Slug(promptName);
        var since = clock.GetUtcNow().UtcDateTime.AddDays(-Math.Clamp(days, 1, 366));
        await using var db = dbFactory.ForSystem();
        var prompt = await db.Prompts.AsNoTracking().SingleOrDefaultAsync(p => p.Name == slug, ct);
        if (prompt is null)
        {
            return new EvalTrend(slug, tenantId, [], [], []);
        }

        var versions = await db.PromptVersions.AsNoTracking().Where(v => v.PromptId == prompt.Id)
            .Select(v => new { v.Id, v.Number, v.ModelAlias }).ToDictionaryAsync(v => v.Id, ct);
        var runs = await db.EvalRuns.AsNoTracking()
            .Where(r => r.PromptName == slug && r.TenantId == tenantId && r.Status == EvalRunStatus.Done && r.FinishedUtc >= since
                        && r.PromptVersionId != null && r.Completed > 0)
            .OrderByDescending(r => r.FinishedUtc).Take(MaxPoints)
            .Select(r => new { r.Id, r.PromptVersionId, r.Alias, r.ScoreSum, r.Completed, r.FinishedUtc, r.Trigger }).ToListAsync(ct);
        var points = runs
            .Where(r => versions.TryGetValue(r.PromptVersionId!.Value, out var v) && v.ModelAlias == r.Alias)
            .Select(r => new EvalTrendPoint(r.Id, versions[r.PromptVersionId!.Value].Number, Math.Round(r.ScoreSum / r.Completed * 100, 1), r.FinishedUtc!.Value, r.Trigger))
            .OrderBy(p => p.FinishedUtc).ToList();
        var activations = await db.PromptActivations.AsNoTracking()
            .Where(a => a.PromptId == prompt.Id && a.TenantId == tenantId && a.ActivatedUtc >= since).OrderBy(a => a.Id)
            .Select(a => new { a.VersionId, a.ActivatedUtc, a.IsRollback }).ToListAsync(ct);
        var alerts = await db.EvalDriftAlerts.AsNoTracking().Where(a => a.PromptName == slug && a.TenantId == tenantId && a.CreatedUtc >= since)
            .OrderBy(a => a.CreatedUtc).ToListAsync(ct);
        return new EvalTrend(slug, tenantId, points,
            activations.Select(a => new EvalTrendActivation(a.VersionId is { } v && versions.TryGetValue(v, out var x) ? x.Number : null, a.ActivatedUtc, a.IsRollback)).ToList(),
            await EvalDriftAlerts.ViewsAsync(db, alerts, ct));
    }

    /// <summary>
    /// A feature's set over time: every done run of the set, one series per alias (the alias is what a feature's
    /// "version" is: which model its calls go to), the moment its nightly alias was chosen, and the set's drift alerts.
    /// Empty for an unknown set or a prompt's set (the prompt page draws those).
    /// </summary>
    public async Task<EvalTrend> ReadFeatureAsync(Guid setId, int days, CancellationToken ct)
    {
        var since = clock.GetUtcNow().UtcDateTime.AddDays(-Math.Clamp(days, 1, 366));
        await using var db = dbFactory.ForSystem();
        var set = await db.EvalSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == setId, ct);
        if (set is not { Feature: not null })
        {
            return new EvalTrend(set?.Name ?? "", set?.TenantId, [], [], []);
        }

        var runs = await db.EvalRuns.AsNoTracking()
            .Where(r => r.SetId == set.Id && r.Status == EvalRunStatus.Done && r.FinishedUtc >= since && r.Completed > 0)
            .OrderByDescending(r => r.FinishedUtc).Take(MaxPoints)
            .Select(r => new { r.Id, r.Alias, r.ScoreSum, r.Completed, r.FinishedUtc, r.Trigger }).ToListAsync(ct);
        var points = runs
            .Select(r => new EvalTrendPoint(r.Id, 0, Math.Round(r.ScoreSum / r.Completed * 100, 1), r.FinishedUtc!.Value, r.Trigger, r.Alias))
            .OrderBy(p => p.FinishedUtc).ToList();
        var chosen = set.NightlyAlias is { } alias && set.NightlyAliasSinceUtc is { } at && at >= since
            ? new List<EvalTrendActivation> { new(null, at, false, $"nightly on {alias}") }
            : [];
        var alerts = await db.EvalDriftAlerts.AsNoTracking().Where(a => a.SetId == set.Id && a.CreatedUtc >= since).OrderBy(a => a.CreatedUtc).ToListAsync(ct);
        return new EvalTrend(set.Name, set.TenantId, points, chosen, await EvalDriftAlerts.ViewsAsync(db, alerts, ct));
    }
}
