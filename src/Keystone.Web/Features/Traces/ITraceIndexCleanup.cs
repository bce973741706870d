using Keystone.Data;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// What the retention job does beyond the trace rows, per database: the SQLite search index is a table of its own and
/// the SQLite recorder's payloads are in packs (<see cref="SqliteTraceIndexCleanup"/>); the PostgreSQL index goes with
/// the rows and there are no packs (<see cref="PostgresTraceIndexCleanup"/>).
/// </summary>
internal interface ITraceIndexCleanup
{
    /// <summary>Drops index entries left without a trace.</summary>
    Task PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct);

    /// <summary>
    /// Retention of packed payloads for one tenant (<paramref name="tenantId"/>) or for every tenant but
    /// <paramref name="excluded"/>: drops the raw part of packs whose oldest trace is before <paramref name="rawBefore"/>
    /// and deletes packs whose newest trace is before <paramref name="redactedBefore"/>. Returns how many traces' raw
    /// payloads were dropped.
    /// </summary>
    Task<int> PurgePacksAsync(KeystoneDbContext db, Guid? tenantId, IReadOnlyCollection<Guid> excluded, DateTime rawBefore, DateTime redactedBefore,
        DateTime now, CancellationToken ct);
}
