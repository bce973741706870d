using Keystone.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keystone.Gateway.Pipeline;

/// <summary>
/// Makes rate limits hold across instances in PostgreSQL mode (decision 20): every
/// <c>Gateway:RateLimitSyncInterval</c> it writes this instance's changed counts to <c>rate_limit_counts</c> (absolute
/// values, so a retry is harmless) and reads the other instances' sums for this minute and the one before into the
/// <see cref="RequestRateLimiter"/>. Requests never wait for it: the limiter decides locally, so the limit can be
/// overshot by what the other instances admit within one interval. A failed sync is logged and retried; limiting
/// falls back to this instance's own counts meanwhile.
/// </summary>
internal sealed partial class PostgresRateLimitSync(
    RequestRateLimiter limiter,
    KeystoneDbFactory dbFactory,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider clock,
    ILogger<RateLimitSync> log) : RateLimitSync
{
    private long _purgedBefore;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.CurrentValue.RateLimitSyncInterval, clock, stoppingToken);
                await SyncAsync(stoppingToken);
                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Whatever went wrong, the host must keep serving (a background service's exception stops it).
                // Once, then every minute or so while the database stays away: limiting goes on per instance.
                if (failures++ % 60 == 0)
                {
                    SyncFailed(ex);
                }
            }
        }
    }

    public override async Task SyncAsync(CancellationToken ct)
    {
        var minute = limiter.CurrentMinute;
        var changed = limiter.TakeChangedCounts();
        var now = clock.GetUtcNow().UtcDateTime;
        await using var db = dbFactory.ForSystem();
        if (changed.Count > 0)
        {
            var keys = changed.Select(c => c.Key).ToArray();
            var minutes = changed.Select(c => c.Minute).ToArray();
            var counts = changed.Select(c => c.Count).ToArray();
            await db.Database.ExecuteSqlAsync($"""
                INSERT INTO rate_limit_counts (key, minute, instance_id, count, updated_utc)
                SELECT k, m, {InstanceId}, c, {now} FROM unnest({keys}, {minutes}, {counts}) AS t(k, m, c)
                ON CONFLICT (key, minute, instance_id) DO UPDATE SET count = excluded.count, updated_utc = excluded.updated_utc
                """, ct);
        }

        var others = await db.RateLimitCounts.AsNoTracking()
            .Where(r => r.Minute >= minute - 1 && r.InstanceId != InstanceId)
            .GroupBy(r => new { r.Key, r.Minute })
            .Select(g => new { g.Key.Key, g.Key.Minute, Count = g.Sum(r => r.Count) })
            .ToListAsync(ct);
        var byKey = new Dictionary<string, (int Previous, int Current)>(StringComparer.Ordinal);
        foreach (var row in others)
        {
            var (previous, current) = byKey.GetValueOrDefault(row.Key);
            byKey[row.Key] = row.Minute == minute ? (previous, row.Count) : (row.Count, current);
        }

        limiter.ApplyOthers(minute, byKey);

        // Older minutes no longer weigh in any window: one delete per minute keeps the table at two minutes of keys.
        if (_purgedBefore < minute - 1)
        {
            await db.RateLimitCounts.Where(r => r.Minute < minute - 1).ExecuteDeleteAsync(ct);
            _purgedBefore = minute - 1;
        }
    }

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Sharing rate-limit counts with the other instances failed; limits hold per instance until it works again")]
    private partial void SyncFailed(Exception ex);
}
