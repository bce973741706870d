using Keystone.Data;
using Keystone.Data.Rollups;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// The rolled-up rows of a range, for the views that sum whole days of many tenants (the dashboard, margin and
/// caching pages): they read only what the rollup job has added so far (at most one run behind). A tenant's own
/// usage, which must also count the calls since the last run, goes through <see cref="UsageReader"/>.
/// </summary>
internal static class UsageRollupRows
{
    /// <summary>The day rows of <c>usage_rollups</c> in the range.</summary>
    public static IQueryable<UsageRollup> Days(KeystoneDbContext db, ReportRange range) => db.UsageRollups.AsNoTracking()
        .Where(r => r.Grain == RollupGrain.Day && r.BucketStartUtc >= range.FromUtc && r.BucketStartUtc < range.ToUtc);

    /// <summary>The per-user day rows (<c>usage_user_daily</c>) in the range.</summary>
    public static IQueryable<UserUsageRollup> UserDays(KeystoneDbContext db, ReportRange range) => db.UserUsageRollups.AsNoTracking()
        .Where(u => u.DayUtc >= range.FromUtc && u.DayUtc < range.ToUtc);

    /// <summary>A bucket time as read back from the database (SQLite gives an unspecified kind), marked UTC.</summary>
    public static DateTime Utc(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc);
}
