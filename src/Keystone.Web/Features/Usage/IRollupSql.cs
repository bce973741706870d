using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Keystone.Web.Features.Usage;

/// <summary>
/// What <see cref="UsageRollupJob"/> runs on one database: the statements, and the few steps where SQLite and
/// PostgreSQL differ (docs/decisions/0014-rollup-deltas-behind-a-write-barrier.md). One implementation per mode
/// (<see cref="SqliteRollupSql"/>, <see cref="PostgresRollupSql"/>), picked at registration.
/// </summary>
internal interface IRollupSql
{
    /// <summary>Drops the delta table if a failed run left it.</summary>
    string DropDelta { get; }

    /// <summary>Hour sums of the calls ingested in ({0}, {1}] into a temporary table (one pass over the new calls only).</summary>
    string CreateDelta { get; }

    /// <summary>Calls, hour buckets and day buckets in the delta.</summary>
    string DeltaStats { get; }

    /// <summary>Adds the delta to the hour rows, creating the missing ones.</summary>
    string MergeHours { get; }

    /// <summary>Adds the delta, summed by day, to the day rows, creating the missing ones.</summary>
    string MergeDays { get; }

    /// <summary>Adds the per-user day sums of the calls ingested in ({0}, {1}] to the user day rows.</summary>
    string MergeUserDays { get; }

    /// <summary>A watermark as a parameter of the statements above, compared with <c>ingested_utc</c>.</summary>
    object Parameter(DateTime utc);

    /// <summary>Sets the run's connection up for the bulk statements (on the connection the job keeps open).</summary>
    Task BeginSessionAsync(DatabaseFacade database, CancellationToken ct);

    /// <summary>Gives the connection its defaults back before it returns to the pool.</summary>
    Task EndSessionAsync(DatabaseFacade database);

    /// <summary>
    /// Before the run's transaction: where a barrier is needed, waits until no transaction is writing calls and reads
    /// the highest ingest time then; every call at or below it is committed, every later one gets a later ingest time.
    /// </summary>
    Task<DateTime?> MaxIngestedBeforeTransactionAsync(DatabaseFacade database, CancellationToken ct);

    /// <summary>Inside the run's transaction: the highest ingest time the run takes, given what was read before it.</summary>
    Task<DateTime?> MaxIngestedInTransactionAsync(DatabaseFacade database, DateTime? readBefore, CancellationToken ct);
}
