using System.Diagnostics;
using Keystone.Data;
using Keystone.Data.Rollups;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Usage;

/// <summary>What one rollup run did.</summary>
/// <param name="Hours">Hour buckets the new calls fell in.</param>
/// <param name="Days">Day buckets the new calls fell in.</param>
/// <param name="WatermarkUtc">The watermark after the run.</param>
internal sealed record RollupRunResult(int Hours, int Days, DateTime? WatermarkUtc);

/// <summary>
/// Rolls <c>llm_calls</c> up into hourly and daily <see cref="UsageRollup"/> rows and daily
/// <see cref="UserUsageRollup"/> rows (docs/decisions/0014-rollup-deltas-behind-a-write-barrier.md). Each run
/// takes the calls ingested after its watermark and up to the highest ingest time read behind a write barrier
/// (so no call at or below it can still commit), sums them once by hour in SQL, and adds those sums to the
/// hour, day and per-user rows in the same transaction that moves the watermark. Work is proportional to the
/// new calls, not to the hours they touch; a call recorded late for an old hour is added to that hour;
/// running twice changes nothing (the second run finds no new calls).
/// </summary>
internal sealed class UsageRollupJob(KeystoneDbFactory dbFactory, IRollupSql sql, TimeProvider clock, ILogger<UsageRollupJob> log)
{
    public const string RecurringId = "dashboards:usage-rollup";

    /// <summary>The name of this rollup's row in <c>rollup_state</c>.</summary>
    public const string StateName = "usage";

    // Calls are recorded in batches; any call is ingested well after 2000-01-01.
    internal static readonly DateTime Beginning = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    // Two instances (or a slow run and the next tick) must not add the same calls twice; the row lock on
    // rollup_state below guarantees it on PostgreSQL even across servers, this keeps Hangfire from queuing them.
    [Hangfire.DisableConcurrentExecution(timeoutInSeconds: 600)]
    public async Task<RollupRunResult> RunAsync(CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        await using var db = dbFactory.ForSystem();
        db.Database.SetCommandTimeout(TimeSpan.FromMinutes(10));
        // One connection for the whole run: the session settings and the temporary delta table live in it.
        await db.Database.OpenConnectionAsync(ct);
        await sql.BeginSessionAsync(db.Database, ct);
        try
        {
            var max = await sql.MaxIngestedBeforeTransactionAsync(db.Database, ct);
            // On SQLite this is BEGIN IMMEDIATE: it takes the one write lock, so no call is half-written while we read.
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            // Locks the state row (PostgreSQL) so a concurrent run waits and then sees the moved watermark.
            await db.Database.ExecuteSqlRawAsync("UPDATE rollup_state SET last_run_ms = last_run_ms WHERE name = {0}", [StateName], ct);
            max = await sql.MaxIngestedInTransactionAsync(db.Database, max, ct);

            var state = await db.RollupStates.FirstOrDefaultAsync(s => s.Name == StateName, ct);
            if (state is null)
            {
                state = new RollupState { Name = StateName };
                db.RollupStates.Add(state);
            }

            var from = state.WatermarkUtc is { } w ? Utc(w) : Beginning;
            var stats = new DeltaStats();
            if (max is { } m && Utc(m) > from)
            {
                object[] range = [sql.Parameter(from), sql.Parameter(Utc(m))];
                await db.Database.ExecuteSqlRawAsync(sql.DropDelta, ct);
                await db.Database.ExecuteSqlRawAsync(sql.CreateDelta, range, ct);
                stats = await db.Database.SqlQueryRaw<DeltaStats>(sql.DeltaStats).SingleAsync(ct);
                var summed = Stopwatch.GetTimestamp();
                await db.Database.ExecuteSqlRawAsync(sql.MergeHours, ct);
                await db.Database.ExecuteSqlRawAsync(sql.MergeDays, ct);
                var merged = Stopwatch.GetTimestamp();
                await db.Database.ExecuteSqlRawAsync(sql.MergeUserDays, range, ct);
                await db.Database.ExecuteSqlRawAsync(sql.DropDelta, ct);
                log.LogDebug("Usage rollup steps: sum by hour {SumMs} ms, merge hours and days {MergeMs} ms, per-user days {UserMs} ms",
                    (long)Stopwatch.GetElapsedTime(started, summed).TotalMilliseconds,
                    (long)Stopwatch.GetElapsedTime(summed, merged).TotalMilliseconds,
                    (long)Stopwatch.GetElapsedTime(merged).TotalMilliseconds);
                state.WatermarkUtc = Utc(m);
            }

            var elapsedMs = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            state.LastRunUtc = clock.GetUtcNow().UtcDateTime;
            state.LastRunHours = (int)stats.Hours;
            state.LastRunCalls = stats.Calls;
            state.LastRunMs = elapsedMs;
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            log.LogInformation("Usage rollup: {Calls} new calls added to {Hours} hours and {Days} days in {ElapsedMs} ms",
                stats.Calls, stats.Hours, stats.Days, elapsedMs);
            return new RollupRunResult((int)stats.Hours, (int)stats.Days, state.WatermarkUtc);
        }
        finally
        {
            await sql.EndSessionAsync(db.Database);
        }
    }

    private static DateTime Utc(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc);

    /// <summary>What the delta held (read from SQL by column name).</summary>
    internal sealed class DeltaStats
    {
        public long Calls { get; set; }

        public long Hours { get; set; }

        public long Days { get; set; }
    }
}
