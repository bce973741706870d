using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Rollups;
using Keystone.Web.Features.Margin;
using Keystone.Web.Features.Usage;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Dashboard;

/// <summary>Cost of one series (a model, provider or feature) per day, for stacked charts.</summary>
internal sealed record CostSeries(string Name, IReadOnlyList<long> DailyMicros)
{
    public long TotalMicros => DailyMicros.Sum();
}

/// <summary>Latency of one model read from the rollup histograms.</summary>
internal sealed record ModelLatency(string Model, long Calls, int? P50Ms, int? P95Ms, double AverageMs);

/// <summary>The founder overview for a range.</summary>
internal sealed record Overview(
    ReportRange Range,
    IReadOnlyList<DayTotals> Days,
    IReadOnlyList<CostSeries> ByModel,
    IReadOnlyList<CostSeries> ByProvider,
    IReadOnlyList<CostSeries> ByFeature,
    IReadOnlyList<ModelLatency> Latency,
    long ByokCostMicros)
{
    public long RevenueMicros => Days.Sum(d => d.RevenueMicros);

    public long CostMicros => Days.Sum(d => d.CostMicros);

    public long MarginMicros => RevenueMicros - CostMicros;

    public double? MarginRatio => RevenueMicros == 0 ? null : (double)MarginMicros / RevenueMicros;

    public long Calls => Days.Sum(d => d.Calls);

    public long SavedMicros => Days.Sum(d => d.SavedMicros);

    public double? ErrorRate => Calls == 0 ? null : (double)Days.Sum(d => d.Errors) / Calls;

    public double? FallbackRate => Calls == 0 ? null : (double)Days.Sum(d => d.Fallbacks) / Calls;

    public double? CacheHitRate => Calls == 0 ? null : (double)Days.Sum(d => d.CacheHits) / Calls;

    public bool IsEmpty => Calls == 0;
}

/// <summary>The founder overview, read from daily rollups only, in the caller's tenant scope.</summary>
internal sealed class DashboardQueries(IDbContextFactory<KeystoneDbContext> dbFactory)
{
    /// <summary>Series beyond this many are summed into "other".</summary>
    public const int MaxSeries = 6;

    public async Task<Overview> OverviewAsync(ReportRange range, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var ledger = await RevenueQueries.LedgerAsync(db, range, ct);

        // One pass over the day rows of the range, grouped by everything a chart splits by; the page's series,
        // totals and percentiles are folded from these few hundred cells in memory.
        var cells = await UsageRollupRows.Days(db, range)
            .GroupBy(r => new { r.BucketStartUtc, r.Feature, r.Provider, r.Model, Byok = r.BilledTo == BilledTo.TenantKey })
            .Select(g => new
            {
                Day = g.Key.BucketStartUtc, g.Key.Feature, g.Key.Provider, g.Key.Model, g.Key.Byok,
                Calls = g.Sum(r => r.Calls),
                Errors = g.Sum(r => r.Errors),
                Fallbacks = g.Sum(r => r.Fallbacks),
                CacheHits = g.Sum(r => r.CacheHits),
                Saved = g.Sum(r => r.SavedCostMicros),
                Cost = g.Sum(r => r.CostMicros),
                LatencySum = g.Sum(r => r.LatencyMsSum),
                L0 = g.Sum(r => r.Lat0), L1 = g.Sum(r => r.Lat1), L2 = g.Sum(r => r.Lat2), L3 = g.Sum(r => r.Lat3),
                L4 = g.Sum(r => r.Lat4), L5 = g.Sum(r => r.Lat5), L6 = g.Sum(r => r.Lat6), L7 = g.Sum(r => r.Lat7),
                L8 = g.Sum(r => r.Lat8), L9 = g.Sum(r => r.Lat9),
            })
            .ToListAsync(ct);

        var byDay = cells.GroupBy(c => RevenueQueries.Utc(c.Day)).ToDictionary(g => g.Key, g => new
        {
            Calls = g.Sum(c => c.Calls), Errors = g.Sum(c => c.Errors), Fallbacks = g.Sum(c => c.Fallbacks),
            CacheHits = g.Sum(c => c.CacheHits), Saved = g.Sum(c => c.Saved),
        });
        var revenueByDay = ledger.RevenueByDay.GroupBy(kv => kv.Key.Day).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
        var costByDay = ledger.CostByDay.GroupBy(kv => kv.Key.Day).ToDictionary(g => g.Key, g => g.Sum(kv => kv.Value));
        var dayList = range.EachDay().Select(d =>
        {
            byDay.TryGetValue(d, out var t);
            return new DayTotals(d, revenueByDay.GetValueOrDefault(d), costByDay.GetValueOrDefault(d),
                t?.Calls ?? 0, t?.Errors ?? 0, t?.Fallbacks ?? 0, t?.CacheHits ?? 0, t?.Saved ?? 0);
        }).ToList();

        var platform = cells.Where(c => !c.Byok).ToList();
        var byModel = platform.Select(c => new Cell(c.Day, c.Provider + "/" + c.Model, c.Cost)).ToList();
        var byProvider = platform.Select(c => new Cell(c.Day, c.Provider, c.Cost)).ToList();
        var byFeature = platform.Select(c => new Cell(c.Day, c.Feature, c.Cost)).ToList();

        var latencies = cells.Where(c => c.Model != "")
            .GroupBy(c => c.Provider + "/" + c.Model)
            .Select(g =>
            {
                long[] h =
                [
                    g.Sum(c => c.L0), g.Sum(c => c.L1), g.Sum(c => c.L2), g.Sum(c => c.L3), g.Sum(c => c.L4),
                    g.Sum(c => c.L5), g.Sum(c => c.L6), g.Sum(c => c.L7), g.Sum(c => c.L8), g.Sum(c => c.L9),
                ];
                var calls = g.Sum(c => c.Calls);
                return new ModelLatency(g.Key, calls, LatencyHistogram.Percentile(h, 0.5), LatencyHistogram.Percentile(h, 0.95),
                    calls == 0 ? 0 : (double)g.Sum(c => c.LatencySum) / calls);
            })
            .OrderByDescending(l => l.Calls).ToList();

        return new Overview(range, dayList, Series(byModel, range), Series(byProvider, range), Series(byFeature, range), latencies,
            cells.Where(c => c.Byok).Sum(c => c.Cost));
    }

    internal sealed record Cell(DateTime Day, string Key, long Micros);

    /// <summary>Per-key daily series, largest first; keys past <see cref="MaxSeries"/> are folded into "other".</summary>
    internal static IReadOnlyList<CostSeries> Series(IReadOnlyList<Cell> cells, ReportRange range)
    {
        var days = range.EachDay().ToList();
        var index = days.Select((d, i) => (d, i)).ToDictionary(x => x.d, x => x.i);
        var ranked = cells.GroupBy(c => string.IsNullOrEmpty(c.Key) || c.Key == "/" ? "(none)" : c.Key)
            .Select(g => (Key: g.Key, Total: g.Sum(c => c.Micros), Cells: g.ToList()))
            .OrderByDescending(g => g.Total).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        var result = new List<CostSeries>();
        var other = new long[days.Count];
        for (var i = 0; i < ranked.Count; i++)
        {
            var values = i < MaxSeries ? new long[days.Count] : other;
            foreach (var c in ranked[i].Cells)
            {
                if (index.TryGetValue(RevenueQueries.Utc(c.Day), out var at))
                {
                    values[at] += c.Micros;
                }
            }

            if (i < MaxSeries)
            {
                result.Add(new CostSeries(ranked[i].Key, values));
            }
        }

        if (ranked.Count > MaxSeries)
        {
            result.Add(new CostSeries("other", other));
        }

        return result;
    }
}
