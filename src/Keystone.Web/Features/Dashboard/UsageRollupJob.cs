using System.Diagnostics;
using Keystone.Data;
using Keystone.Data.Rollups;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Features.Dashboard;

/// <summary>What one rollup run did.</summary>
/// <param name="Hours">Hour buckets recomputed.</param>
/// <param name="Days">Day buckets recomputed.</param>
/// <param name="WatermarkUtc">The watermark after the run.</param>
public sealed record RollupRunResult(int Hours, int Days, DateTime? WatermarkUtc);

/// <summary>
/// Rolls <c>llm_calls</c> up into hourly and daily <see cref="UsageRollup"/> rows and daily
/// <see cref="UserUsageRollup"/> rows. Incremental and idempotent (docs/decisions/0010-usage-rollups.md):
/// it finds the hours touched by calls ingested since its watermark (minus an overlap for transactions that
/// commit late), recomputes each of those whole hours from the raw calls, then the days they belong to,
/// with delete + insert in one transaction per day. A call recorded late for an old hour lands in that
/// hour on the next run; running twice changes nothing.
/// </summary>
public sealed class UsageRollupJob(KeystoneDbFactory dbFactory, IOptions<DashboardOptions> options, TimeProvider clock,
    ILogger<UsageRollupJob> log)
{
    public const string RecurringId = "dashboards:usage-rollup";

    /// <summary>The name of this rollup's row in <c>rollup_state</c>.</summary>
    public const string StateName = "usage";

    // Calls are recorded in batches; any call is ingested well after 2000-01-01.
    private static readonly DateTime Beginning = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    // Two instances (or a slow run and the next tick) must not interleave their delete + insert.
    [Hangfire.DisableConcurrentExecution(timeoutInSeconds: 600)]
    public async Task<RollupRunResult> RunAsync(CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var sql = new RollupSql(dbFactory.Provider);
        await using var db = dbFactory.ForSystem();
        db.Database.SetCommandTimeout(TimeSpan.FromMinutes(10));

        var state = await db.RollupStates.FirstOrDefaultAsync(s => s.Name == StateName, ct);
        if (state is null)
        {
            state = new RollupState { Name = StateName };
            db.RollupStates.Add(state);
        }

        // Read the new high-water mark before looking for work: anything ingested later is seen next run.
        var newWatermark = await db.Calls.MaxAsync(c => (DateTime?)c.IngestedUtc, ct);
        var since = state.WatermarkUtc is { } w ? Utc(w) - options.Value.WatermarkOverlap : Beginning;
        // The count is a statistic only. Just under a millisecond is added because SQLite compares these as text:
        // the database writes "…12.340" while EF writes the watermark as "…12.34", which would sort as older.
        var newCalls = state.WatermarkUtc is { } old
            ? await db.Calls.LongCountAsync(c => c.IngestedUtc > old.AddTicks(9_999), ct)
            : await db.Calls.LongCountAsync(ct);

        var hours = (await db.Database.SqlQueryRaw<DateTime>(sql.TouchedHours, since).ToListAsync(ct))
            .Select(Utc).Distinct().Order().ToList();

        var days = 0;
        foreach (var day in hours.GroupBy(h => h.Date))
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            foreach (var (from, to) in Runs(day))
            {
                await db.Database.ExecuteSqlRawAsync(sql.ReplaceHours, [from, to], ct);
            }

            var dayStart = Utc(day.Key);
            await db.Database.ExecuteSqlRawAsync(sql.ReplaceDays, [dayStart, dayStart.AddDays(1)], ct);
            await db.Database.ExecuteSqlRawAsync(sql.ReplaceUserDays, [dayStart, dayStart.AddDays(1)], ct);
            await tx.CommitAsync(ct);
            days++;
        }

        if (newWatermark is { } nw && (state.WatermarkUtc is null || Utc(nw) > Utc(state.WatermarkUtc.Value)))
        {
            state.WatermarkUtc = Utc(nw);
        }

        var elapsedMs = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        state.LastRunUtc = clock.GetUtcNow().UtcDateTime;
        state.LastRunHours = hours.Count;
        state.LastRunCalls = newCalls;
        state.LastRunMs = elapsedMs;
        await db.SaveChangesAsync(ct);
        log.LogInformation("Usage rollup: {Calls} new calls, {Hours} hours and {Days} days recomputed in {ElapsedMs} ms",
            newCalls, hours.Count, days, elapsedMs);
        return new RollupRunResult(hours.Count, days, state.WatermarkUtc);
    }

    /// <summary>Contiguous runs of hours as [from, to) ranges, so a busy day is one statement, not 24.</summary>
    private static IEnumerable<(DateTime From, DateTime To)> Runs(IEnumerable<DateTime> sortedHours)
    {
        DateTime? start = null;
        var end = DateTime.MinValue;
        foreach (var h in sortedHours)
        {
            if (start is not null && h == end)
            {
                end = h.AddHours(1);
                continue;
            }

            if (start is { } s)
            {
                yield return (s, end);
            }

            start = h;
            end = h.AddHours(1);
        }

        if (start is { } last)
        {
            yield return (last, end);
        }
    }

    private static DateTime Utc(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc);
}
