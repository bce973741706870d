using Keystone.Data;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// What the retention job does beyond the trace rows and packs, per database: the SQLite search index is a table of its
/// own (<see cref="SqliteTraceIndexCleanup"/>); the PostgreSQL index goes with the rows (<see cref="PostgresTraceIndexCleanup"/>).
/// </summary>
internal interface ITraceIndexCleanup
{
    /// <summary>Drops index entries left without a trace.</summary>
    Task PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct);
}
