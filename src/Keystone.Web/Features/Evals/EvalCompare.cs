using Keystone.Data;
using Keystone.Data.Evals;
using Keystone.Web.Features.Usage;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Evals;

/// <summary>One side of a comparison: the run and what it measured.</summary>
/// <param name="AnswerCostPerExampleMicros">Mean cost of the answer call alone (what production pays per call), micro-USD.</param>
/// <param name="CostPerExampleMicros">Mean cost of an example with its scorers' calls (what the eval paid).</param>
/// <param name="LatencyP50Ms">Median latency of the answer calls.</param>
/// <param name="LatencyP95Ms">95th percentile latency of the answer calls.</param>
internal sealed record EvalCompareSide(EvalRunView Run, long? AnswerCostPerExampleMicros, long? CostPerExampleMicros, int? LatencyP50Ms, int? LatencyP95Ms);

/// <summary>One example in both runs (a side is null when that run has no result for it).</summary>
internal sealed record EvalCompareRow(Guid ExampleId, string Input, EvalResultView? A, EvalResultView? B)
{
    /// <summary>B's score minus A's, in points; null unless both were scored.</summary>
    public double? DeltaPoints => A is { Error: null } a && B is { Error: null } b ? Math.Round((b.Score - a.Score) * 100, 1) : null;

    /// <summary>
    /// How much the example changed, for sorting (0-100): the size of the score change when both were scored; 100 when only
    /// one side has a scored answer (an answer lost or gained is the largest change); 0 when neither has.
    /// </summary>
    public double ChangePoints => DeltaPoints is { } d ? Math.Abs(d) : (A is { Error: null }) != (B is { Error: null }) ? 100 : 0;
}

/// <summary>A feature's real traffic over the last 30 days (the usage rollups) and what switching from A to B would save at it per month.</summary>
internal sealed record EvalCompareTraffic(string Feature, long Calls30d, long? MonthlySavingMicros);

/// <summary>Two runs of one set side by side; <see cref="Rows"/> in the set's order.</summary>
internal sealed record EvalComparison(EvalCompareSide A, EvalCompareSide B, IReadOnlyList<EvalCompareRow> Rows, IReadOnlyList<EvalCompareTraffic> Traffic)
{
    /// <summary>The rows with the largest change first (ties keep the set's order): where two versions or models differ is what a reviewer reads first.</summary>
    public IReadOnlyList<EvalCompareRow> RowsByChange => [.. Rows.OrderByDescending(r => r.ChangePoints)];
}

/// <summary>
/// Compares two runs of the same set (two versions, or two aliases such as <c>smart</c> vs <c>fast</c>): score, pass
/// rate, cost per example, latency p50/p95, per-example differences, and the monthly saving of switching from A to B at
/// each feature's traffic of the last 30 days. The per-call figures are the answer calls' own (cost and latency from
/// their recorded call rows): the scorers' calls are the eval's cost, not production's.
/// </summary>
internal sealed class EvalCompare(KeystoneDbFactory dbFactory, EvalRunStore runs, UsageReader usage, TimeProvider clock)
{
    /// <summary>The window of real traffic the saving is projected from.</summary>
    public const int TrafficDays = 30;

    /// <summary>Features whose calls are evaluation or editing, not production traffic.</summary>
    private static readonly HashSet<string> NotProduction = new(StringComparer.Ordinal) { EvalRunJob.Feature, "prompt.test" };

    /// <summary>The comparison, or null when a run does not exist; throws <see cref="EvalException"/> when the runs are of different sets.</summary>
    public async Task<EvalComparison?> CompareAsync(Guid a, Guid b, CancellationToken ct)
    {
        var runA = await runs.GetAsync(a, ct);
        var runB = await runs.GetAsync(b, ct);
        if (runA is null || runB is null)
        {
            return null;
        }

        if (runA.SetId != runB.SetId)
        {
            throw new EvalException(EvalException.Invalid, "These runs are of different eval sets: compare two runs of the same set.");
        }

        var resultsA = await runs.ResultsAsync(a, ct);
        var resultsB = await runs.ResultsAsync(b, ct);
        await using var db = dbFactory.ForSystem();
        var traceIds = resultsA.Concat(resultsB).Where(r => r.TraceId is not null).Select(r => r.TraceId!.Value).Distinct().ToList();
        var calls = (await db.Calls.AsNoTracking().Where(c => traceIds.Contains(c.TraceId)).Select(c => new { c.TraceId, c.CostMicros, c.LatencyMs }).ToListAsync(ct))
            .GroupBy(c => c.TraceId).ToDictionary(g => g.Key, g => (Cost: g.Sum(x => x.CostMicros), Latency: g.Max(x => x.LatencyMs)));
        var exampleIds = resultsA.Concat(resultsB).Select(r => r.ExampleId).Distinct().ToList();
        var examples = await db.EvalExamples.AsNoTracking().Where(e => exampleIds.Contains(e.Id)).ToDictionaryAsync(e => e.Id, ct);

        var sideA = Side(runA, resultsA, calls);
        var sideB = Side(runB, resultsB, calls);
        var byA = resultsA.ToDictionary(r => r.ExampleId);
        var byB = resultsB.ToDictionary(r => r.ExampleId);
        var rows = resultsA.Select(r => r.ExampleId).Concat(resultsB.Select(r => r.ExampleId)).Distinct()
            .Select(id => new EvalCompareRow(id, examples.TryGetValue(id, out var e) ? InputText(EvalSetStore.InputOf(e)) : "(example deleted)",
                byA.GetValueOrDefault(id), byB.GetValueOrDefault(id)))
            .ToList();

        var saving = sideA.AnswerCostPerExampleMicros is { } costA && sideB.AnswerCostPerExampleMicros is { } costB ? costA - costB : (long?)null;
        var traffic = (await TrafficAsync(runA, ct)).Select(t => new EvalCompareTraffic(t.Feature, t.Calls, saving is { } s ? s * t.Calls : null)).ToList();
        return new EvalComparison(sideA, sideB, rows, traffic);
    }

    private static EvalCompareSide Side(EvalRunView run, IReadOnlyList<EvalResultView> results, Dictionary<Guid, (long Cost, int Latency)> calls)
    {
        var answered = results.Where(r => r.Error is null).ToList();
        var answerCosts = answered.Select(r => r.TraceId is { } t && calls.TryGetValue(t, out var c) ? c.Cost : r.CostMicros).ToList();
        var latencies = answered.Select(r => r.TraceId is { } t && calls.TryGetValue(t, out var c) ? c.Latency : r.LatencyMs).Order().ToList();
        return new EvalCompareSide(run,
            answerCosts.Count == 0 ? null : answerCosts.Sum() / answerCosts.Count,
            run.CostPerExampleMicros,
            Percentile(latencies, 0.50), Percentile(latencies, 0.95));
    }

    /// <summary>Nearest-rank percentile of sorted values; null for none.</summary>
    public static int? Percentile(IReadOnlyList<int> sorted, double p)
    {
        if (sorted.Count == 0)
        {
            return null;
        }

        var rank = (int)Math.Ceiling(p * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    /// <summary>
    /// Production features with calls in the last <see cref="TrafficDays"/> days, busiest first: of the set's tenant, or of
    /// every tenant for a global set (the global version serves them all), read from the usage rollups.
    /// </summary>
    private async Task<IReadOnlyList<(string Feature, long Calls)>> TrafficAsync(EvalRunView run, CancellationToken ct)
    {
        var to = clock.GetUtcNow().UtcDateTime;
        var from = to.AddDays(-TrafficDays);
        List<Guid> tenants;
        if (run.TenantId is { } t)
        {
            tenants = [t];
        }
        else
        {
            await using var db = dbFactory.ForSystem();
            tenants = await db.Tenants.AsNoTracking().Select(x => x.Id).ToListAsync(ct);
        }

        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var tenant in tenants)
        {
            var read = await usage.ReadAsync(new UsageScope(tenant, from, to), [UsageGrouping.Feature], ct);
            foreach (var row in read[UsageGrouping.Feature].Where(r => !NotProduction.Contains(r.Key)))
            {
                totals[row.Key] = totals.GetValueOrDefault(row.Key) + row.Calls;
            }
        }

        return totals.OrderByDescending(x => x.Value).ThenBy(x => x.Key, StringComparer.Ordinal).Select(x => (x.Key, x.Value)).ToList();
    }

    private static string InputText(EvalExampleInput input)
    {
        var text = input.Variables is { Count: > 0 } v
            ? string.Join(", ", v.Select(x => $"{x.Key}: {x.Value}"))
            : input.Messages?.LastOrDefault(m => m.Role == "user")?.Content ?? "";
        return text.Length > 200 ? text[..200] + "…" : text;
    }
}
