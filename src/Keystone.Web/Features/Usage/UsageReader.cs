using System.Diagnostics;
using System.Globalization;
using System.Linq.Expressions;
using Keystone.Data;
using Keystone.Data.Calls;
using Keystone.Data.Rollups;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// The one source of a tenant's usage numbers: <c>GET /api/v1/usage</c> and the usage page both read through it
/// (docs/decisions/0024-one-usage-query-service.md). A sum is the rollup rows up to the rollup's watermark plus the
/// calls the rollup does not hold yet (ingested after the watermark, decision 0014), plus, for a window that does not
/// start or end on a rolled-up bucket, the calls of the partial hours (or days) at its ends. All of it is read in one
/// snapshot (<see cref="IUsageSnapshot"/>), so the numbers equal the raw sums of <c>llm_calls</c> exactly, and a busy
/// tenant's month is still read from a few hundred rollup rows and a few minutes of calls.
/// </summary>
/// <remarks>
/// Which rows a grouping is read from:
/// <list type="bullet">
/// <item><see cref="UsageGrouping.Day"/>, <see cref="UsageGrouping.Feature"/>, <see cref="UsageGrouping.Model"/>: the
/// hour and day rows of <c>usage_rollups</c>; for one user's calls the per-user day rows instead (Day, Feature) or the
/// calls (Model: the per-user rows keep no provider).</item>
/// <item><see cref="UsageGrouping.ModelName"/>, <see cref="UsageGrouping.Member"/>: the per-user day rows of
/// <c>usage_user_daily</c>, which keep no cache hits or savings (they read as zero).</item>
/// <item><see cref="UsageGrouping.ApiKey"/>: the calls. No rollup is kept per API key.</item>
/// <item><see cref="UsageGrouping.User"/>: the calls. <c>usage_user_daily</c> has the user but not the cache hits and
/// savings the API reports per row.</item>
/// </list>
/// Adding the API key, cache hits and savings to <c>usage_user_daily</c> would let the last two read rollups too; that is
/// a schema change this service was built to avoid (REVIEW: when per-key or per-user API reports over long ranges get slow).
/// </remarks>
internal sealed class UsageReader(KeystoneDbFactory dbFactory, IUsageSnapshot snapshot)
{
    /// <summary>The key of calls with no model, user or key, as the API has always named it.</summary>
    public const string None = "(none)";

    private enum Source
    {
        Rollups,
        UserRollups,
        Calls,
    }

    /// <summary>The tenant's usage in the scope, once per grouping asked for, every grouping from the same snapshot.</summary>
    public async Task<IReadOnlyDictionary<UsageGrouping, IReadOnlyList<UsageTotals>>> ReadAsync(UsageScope scope,
        IReadOnlyCollection<UsageGrouping> groupings, CancellationToken ct)
    {
        var result = new Dictionary<UsageGrouping, IReadOnlyList<UsageTotals>>();
        if (scope.UserId is "")
        {
            foreach (var grouping in groupings)
            {
                result[grouping] = [];
            }

            return result;
        }

        await using var db = dbFactory.ForTenant(scope.TenantId);
        await using var read = await snapshot.BeginAsync(db, ct);
        var watermark = await db.RollupStates.AsNoTracking().Where(s => s.Name == UsageRollupJob.StateName)
            .Select(s => s.WatermarkUtc).FirstOrDefaultAsync(ct);
        // Before the first run the rollup holds nothing: every call is after the job's starting point.
        var after = snapshot.IngestedAfter(watermark is { } w ? DateTime.SpecifyKind(w, DateTimeKind.Utc) : UsageRollupJob.Beginning);
        var calls = db.Calls.AsNoTracking()
            .Where(c => c.TenantId == scope.TenantId && c.CreatedUtc >= scope.FromUtc && c.CreatedUtc < scope.ToUtc);
        if (scope.UserId is { } user)
        {
            calls = calls.Where(c => c.UserId == user);
        }

        var fromRollups = groupings.Where(g => SourceOf(g, scope) == Source.Rollups).ToList();
        if (fromRollups.Count > 0)
        {
            var cells = await RollupCellsAsync(db, scope, calls, after, ct);
            foreach (var grouping in fromRollups)
            {
                result[grouping] = Fold(cells, grouping);
            }
        }

        foreach (var grouping in groupings.Where(g => SourceOf(g, scope) == Source.UserRollups))
        {
            result[grouping] = await UserRollupAsync(db, scope, calls, after, grouping, ct);
        }

        foreach (var grouping in groupings.Where(g => SourceOf(g, scope) == Source.Calls))
        {
            result[grouping] = await CallsAsync(calls, grouping, ct);
        }

        return result;
    }

    private static Source SourceOf(UsageGrouping grouping, UsageScope scope) => grouping switch
    {
        UsageGrouping.Day or UsageGrouping.Feature => scope.UserId is null ? Source.Rollups : Source.UserRollups,
        UsageGrouping.Model => scope.UserId is null ? Source.Rollups : Source.Calls,
        UsageGrouping.ModelName or UsageGrouping.Member => Source.UserRollups,
        UsageGrouping.User or UsageGrouping.ApiKey => Source.Calls,
        _ => throw new ArgumentOutOfRangeException(nameof(grouping), grouping, null),
    };

    /// <summary>One day × feature × provider × model of <c>usage_rollups</c> (or of the calls it does not hold).</summary>
    private sealed record Cell(DateTime Day, string Feature, string Provider, string Model, UsageTotals Sums);

    private static async Task<List<Cell>> RollupCellsAsync(KeystoneDbContext db, UsageScope scope, IQueryable<LlmCall> calls,
        DateTime after, CancellationToken ct)
    {
        // Whole days read day rows, whole hours at the ends read hour rows; [hourFrom, hourTo) is what they cover.
        var (hourFrom, hourTo) = (Ceiling(scope.FromUtc, TimeSpan.TicksPerHour), Floor(scope.ToUtc, TimeSpan.TicksPerHour));
        var (dayFrom, dayTo) = (Ceiling(scope.FromUtc, TimeSpan.TicksPerDay), Floor(scope.ToUtc, TimeSpan.TicksPerDay));
        var cells = new List<Cell>();
        if (hourFrom < hourTo)
        {
            var rows = db.UsageRollups.AsNoTracking().Where(r => r.TenantId == scope.TenantId);
            rows = dayFrom < dayTo
                ? rows.Where(r => (r.Grain == RollupGrain.Day && r.BucketStartUtc >= dayFrom && r.BucketStartUtc < dayTo)
                    || (r.Grain == RollupGrain.Hour && ((r.BucketStartUtc >= hourFrom && r.BucketStartUtc < dayFrom)
                        || (r.BucketStartUtc >= dayTo && r.BucketStartUtc < hourTo))))
                : rows.Where(r => r.Grain == RollupGrain.Hour && r.BucketStartUtc >= hourFrom && r.BucketStartUtc < hourTo);
            var rolled = await rows.GroupBy(r => new { r.BucketStartUtc, r.Feature, r.Provider, r.Model })
                .Select(g => new
                {
                    g.Key.BucketStartUtc, g.Key.Feature, g.Key.Provider, g.Key.Model,
                    Calls = g.Sum(r => r.Calls), Errors = g.Sum(r => r.Errors), In = g.Sum(r => r.InputTokens), Out = g.Sum(r => r.OutputTokens),
                    Cost = g.Sum(r => r.CostMicros), Hits = g.Sum(r => r.CacheHits), Saved = g.Sum(r => r.SavedCostMicros),
                })
                .ToListAsync(ct);
            cells.AddRange(rolled.Select(r => new Cell(Floor(Utc(r.BucketStartUtc), TimeSpan.TicksPerDay), r.Feature, r.Provider, r.Model,
                new UsageTotals("", r.Calls, r.Errors, r.In, r.Out, r.Cost, r.Hits, r.Saved))));
        }

        foreach (var slice in NotRolledUp(calls, after, hourFrom, hourTo))
        {
            var raw = await slice.GroupBy(c => new { c.CreatedUtc.Year, c.CreatedUtc.Month, c.CreatedUtc.Day, c.Feature, c.Provider, c.Model })
                .Select(g => new
                {
                    g.Key.Year, g.Key.Month, g.Key.Day, g.Key.Feature, g.Key.Provider, g.Key.Model,
                    Calls = g.LongCount(), Errors = g.LongCount(c => c.Status == CallStatus.Error || c.Status == CallStatus.Incomplete),
                    In = g.Sum(c => (long)c.InputTokens), Out = g.Sum(c => (long)c.OutputTokens), Cost = g.Sum(c => c.CostMicros),
                    Hits = g.LongCount(c => c.CacheStatus != CacheStatus.None), Saved = g.Sum(c => c.SavedCostMicros),
                })
                .ToListAsync(ct);
            // The rollup keeps a missing provider or model as empty text; so do these cells.
            cells.AddRange(raw.Select(r => new Cell(new DateTime(r.Year, r.Month, r.Day, 0, 0, 0, DateTimeKind.Utc), r.Feature,
                r.Provider ?? "", r.Model ?? "", new UsageTotals("", r.Calls, r.Errors, r.In, r.Out, r.Cost, r.Hits, r.Saved))));
        }

        return cells;
    }

    private static IReadOnlyList<UsageTotals> Fold(List<Cell> cells, UsageGrouping grouping) => UsageTotals.Merge(cells.Select(c => c.Sums with
    {
        Key = grouping switch
        {
            UsageGrouping.Day => DayKey(c.Day),
            UsageGrouping.Feature => c.Feature,
            UsageGrouping.Model => ModelKey(c.Provider, c.Model),
            _ => throw new UnreachableException($"{grouping} is not read from usage_rollups."),
        },
    }));

    private static async Task<IReadOnlyList<UsageTotals>> UserRollupAsync(KeystoneDbContext db, UsageScope scope, IQueryable<LlmCall> calls,
        DateTime after, UsageGrouping grouping, CancellationToken ct)
    {
        var (dayFrom, dayTo) = (Ceiling(scope.FromUtc, TimeSpan.TicksPerDay), Floor(scope.ToUtc, TimeSpan.TicksPerDay));
        var rows = db.UserUsageRollups.AsNoTracking().Where(u => u.TenantId == scope.TenantId && u.DayUtc >= dayFrom && u.DayUtc < dayTo);
        if (scope.UserId is { } user)
        {
            rows = rows.Where(u => u.UserId == user);
        }

        var parts = new List<UsageTotals>();
        if (dayFrom < dayTo)
        {
            parts.AddRange(grouping switch
            {
                UsageGrouping.Day => await SumUserDaysAsync(rows, u => u.DayUtc, d => DayKey(Utc(d)), ct),
                UsageGrouping.Feature => await SumUserDaysAsync(rows, u => u.Feature, f => f, ct),
                UsageGrouping.ModelName => await SumUserDaysAsync(rows, u => u.Model, m => m, ct),
                UsageGrouping.Member => await SumUserDaysAsync(rows, u => new { u.UserId, u.EndUser }, k => k.UserId + "|" + k.EndUser, ct),
                _ => throw new UnreachableException($"{grouping} is not read from usage_user_daily."),
            });
        }

        foreach (var slice in NotRolledUp(calls, after, dayFrom, dayTo))
        {
            parts.AddRange(grouping switch
            {
                UsageGrouping.Day => await SumCallsAsync(slice, c => new { c.CreatedUtc.Year, c.CreatedUtc.Month, c.CreatedUtc.Day },
                    k => DayKey(new DateTime(k.Year, k.Month, k.Day, 0, 0, 0, DateTimeKind.Utc)), withCache: false, ct),
                UsageGrouping.Feature => await SumCallsAsync(slice, c => c.Feature, f => f, withCache: false, ct),
                UsageGrouping.ModelName => await SumCallsAsync(slice, c => c.Model, m => m ?? "", withCache: false, ct),
                UsageGrouping.Member => await SumCallsAsync(slice, c => new { c.UserId, c.EndUser },
                    k => (k.UserId ?? "") + "|" + (k.EndUser ?? ""), withCache: false, ct),
                _ => throw new UnreachableException($"{grouping} is not read from usage_user_daily."),
            });
        }

        return UsageTotals.Merge(parts);
    }

    private static async Task<IReadOnlyList<UsageTotals>> CallsAsync(IQueryable<LlmCall> calls, UsageGrouping grouping, CancellationToken ct) =>
        UsageTotals.Merge(grouping switch
        {
            UsageGrouping.User => await SumCallsAsync(calls, c => c.EndUser ?? c.UserId, k => k ?? None, withCache: true, ct),
            // Per key: a platform that issues one key per customer bills each from this (ids as /api/v1/keys lists them).
            UsageGrouping.ApiKey => await SumCallsAsync(calls, c => c.ApiKeyId, k => k?.ToString() ?? None, withCache: true, ct),
            UsageGrouping.Model => await SumCallsAsync(calls, c => new { c.Provider, c.Model }, k => ModelKey(k.Provider ?? "", k.Model ?? ""),
                withCache: true, ct),
            _ => throw new UnreachableException($"{grouping} is not read from the calls."),
        });

    /// <summary>
    /// The calls the rollup rows read do not hold: those ingested after the watermark anywhere in the window, and those
    /// of the partial buckets at its ends, outside [<paramref name="coverFrom"/>, <paramref name="coverTo"/>). Disjoint
    /// slices, each one index range (ingested time; tenant and creation time), so no month of calls is ever scanned.
    /// </summary>
    private static IEnumerable<IQueryable<LlmCall>> NotRolledUp(IQueryable<LlmCall> calls, DateTime after, DateTime coverFrom, DateTime coverTo)
    {
        if (coverFrom >= coverTo)
        {
            yield return calls;
            yield break;
        }

        yield return calls.Where(c => c.IngestedUtc > after);
        yield return calls.Where(c => c.IngestedUtc <= after && c.CreatedUtc < coverFrom);
        yield return calls.Where(c => c.IngestedUtc <= after && c.CreatedUtc >= coverTo);
    }

    private static async Task<List<UsageTotals>> SumUserDaysAsync<TKey>(IQueryable<UserUsageRollup> rows,
        Expression<Func<UserUsageRollup, TKey>> key, Func<TKey, string> label, CancellationToken ct)
        => (await rows.GroupBy(key)
                .Select(g => new Sum<TKey>(g.Key, g.Sum(u => u.Calls), g.Sum(u => u.Errors), g.Sum(u => u.InputTokens), g.Sum(u => u.OutputTokens),
                    g.Sum(u => u.CostMicros), 0, 0))
                .ToListAsync(ct))
            .Select(s => s.Labelled(label))
            .ToList();

    private static async Task<List<UsageTotals>> SumCallsAsync<TKey>(IQueryable<LlmCall> calls, Expression<Func<LlmCall, TKey>> key,
        Func<TKey, string> label, bool withCache, CancellationToken ct)
        => (await calls.GroupBy(key)
                .Select(g => new Sum<TKey>(g.Key, g.LongCount(), g.LongCount(c => c.Status == CallStatus.Error || c.Status == CallStatus.Incomplete),
                    g.Sum(c => (long)c.InputTokens), g.Sum(c => (long)c.OutputTokens), g.Sum(c => c.CostMicros),
                    g.LongCount(c => c.CacheStatus != CacheStatus.None), g.Sum(c => c.SavedCostMicros)))
                .ToListAsync(ct))
            // The per-user rollup keeps no cache numbers; its not-yet-rolled-up part must not add some.
            .Select(s => withCache ? s.Labelled(label) : s.Labelled(label) with { CacheHits = 0, SavedCostMicros = 0 })
            .ToList();

    private sealed record Sum<TKey>(TKey Key, long Calls, long Errors, long InputTokens, long OutputTokens, long CostMicros, long CacheHits,
        long SavedCostMicros)
    {
        public UsageTotals Labelled(Func<TKey, string> label) =>
            new(label(Key), Calls, Errors, InputTokens, OutputTokens, CostMicros, CacheHits, SavedCostMicros);
    }

    private static string DayKey(DateTime day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string ModelKey(string provider, string model) => provider == "" ? None : $"{provider}/{model}";

    private static DateTime Utc(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc);

    private static DateTime Floor(DateTime utc, long ticks) => new(utc.Ticks - utc.Ticks % ticks, DateTimeKind.Utc);

    private static DateTime Ceiling(DateTime utc, long ticks) => utc.Ticks % ticks == 0 ? Utc(utc) : Floor(utc, ticks).AddTicks(ticks);
}
