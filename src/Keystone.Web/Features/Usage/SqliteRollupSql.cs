using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// The rollup on SQLite. <c>DateTime</c> is sortable text (<c>yyyy-MM-dd HH:mm:ss.fffffff</c>), so a prefix is the
/// bucket. No barrier is needed: the run's transaction is <c>BEGIN IMMEDIATE</c>, which already holds the one write
/// lock, so the maximum is read inside it.
/// </summary>
internal sealed class SqliteRollupSql : RollupSql
{
    protected override string Hour(string column) => $"(substr({column}, 1, 13) || ':00:00')";

    protected override string Day(string column) => $"(substr({column}, 1, 10) || ' 00:00:00')";

    // A temporary table lives in the connection; the job drops it at the end of the run.
    protected override string TemporaryTableOptions => "";

    /// <summary>
    /// SQLite compares the column as text and the column default writes exactly three fraction digits, while a
    /// <c>DateTime</c> parameter would be written with trailing zeros trimmed.
    /// </summary>
    public override object Parameter(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);

    // The delta's GROUP BY sorts the new calls in memory instead of temp files, and the merges walk the rollup
    // indexes in key order: a bounded 128 MB page cache keeps the touched pages without spilling.
    public override Task BeginSessionAsync(DatabaseFacade database, CancellationToken ct) =>
        database.ExecuteSqlRawAsync("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -131072;", ct);

    // The connection goes back to the pool: give it back the defaults, and the run's memory back to the system. Shrinking
    // the cache frees the run's pages (up to 128 MB: after a busy five minutes the delta's calls fill it) and the in-memory
    // sort was freed when its statement ended, but glibc's malloc keeps what was freed inside its arenas, resident: a rollup
    // over 100,000 calls left the process 64 MB larger (6 MB with this), and the peer benchmark's quiet run held 126 MB
    // free in malloc with 1,000 streams open (issue 26, decision 0060). shrink_memory drops what the connection still
    // caches; malloc_trim hands the free pages back (a few ms every five minutes, on the job's thread).
    public override async Task EndSessionAsync(DatabaseFacade database)
    {
        await database.ExecuteSqlRawAsync("PRAGMA cache_size = -2000; PRAGMA temp_store = DEFAULT; PRAGMA shrink_memory;", CancellationToken.None);
        Keystone.Web.Hosting.NativeMemory.TrimMalloc();
    }

    public override Task<DateTime?> MaxIngestedBeforeTransactionAsync(DatabaseFacade database, CancellationToken ct) =>
        Task.FromResult<DateTime?>(null);

    // BEGIN IMMEDIATE took the one write lock, so no call is half-written while the maximum is read.
    public override Task<DateTime?> MaxIngestedInTransactionAsync(DatabaseFacade database, DateTime? readBefore, CancellationToken ct) =>
        ReadMaxIngestedAsync(database, ct);
}
