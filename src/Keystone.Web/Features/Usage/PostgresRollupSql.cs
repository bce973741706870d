using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// The rollup on PostgreSQL. Buckets truncate in UTC explicitly (a bare <c>date_trunc</c> on <c>timestamptz</c> would
/// use the session's time zone). The maximum ingest time is read behind a write barrier in a short transaction of
/// its own, before the run's transaction.
/// </summary>
internal sealed class PostgresRollupSql : RollupSql
{
    protected override string Hour(string column) => $"date_trunc('hour', {column}, 'UTC')";

    protected override string Day(string column) => $"date_trunc('day', {column}, 'UTC')";

    protected override string TemporaryTableOptions => "ON COMMIT DROP";

    public override object Parameter(DateTime utc) => utc;

    public override Task BeginSessionAsync(DatabaseFacade database, CancellationToken ct) => Task.CompletedTask;

    public override Task EndSessionAsync(DatabaseFacade database) => Task.CompletedTask;

    /// <summary>
    /// Waits for every transaction writing calls to finish (SHARE mode conflicts with their ROW EXCLUSIVE lock), reads
    /// the maximum, and releases at once: every call at or below it is now committed, and every later one gets a later
    /// <c>clock_timestamp()</c>. New inserts are held back only while the maximum is read.
    /// </summary>
    public override async Task<DateTime?> MaxIngestedBeforeTransactionAsync(DatabaseFacade database, CancellationToken ct)
    {
        await using var fence = await database.BeginTransactionAsync(ct);
        await database.ExecuteSqlRawAsync("SET LOCAL lock_timeout = '30s'; LOCK TABLE llm_calls IN SHARE MODE;", ct);
        var max = await ReadMaxIngestedAsync(database, ct);
        await fence.CommitAsync(ct);
        return max;
    }

    public override Task<DateTime?> MaxIngestedInTransactionAsync(DatabaseFacade database, DateTime? readBefore, CancellationToken ct) =>
        Task.FromResult(readBefore);
}
