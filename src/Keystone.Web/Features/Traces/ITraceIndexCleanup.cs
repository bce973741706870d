using Keystone.Data;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// What the retention job does to the trace search index after deleting traces: the SQLite index is a table of its
/// own (<see cref="SqliteTraceIndexCleanup"/>), the PostgreSQL one goes with the rows (<see cref="PostgresTraceIndexCleanup"/>).
/// </summary>
internal interface ITraceIndexCleanup
{
    /// <summary>Drops index entries left without a trace.</summary>
    Task PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct);
}
