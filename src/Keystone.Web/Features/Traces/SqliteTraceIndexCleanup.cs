using Keystone.Data;

namespace Keystone.Web.Features.Traces;

/// <summary>SQLite: the FTS5 table's triggers follow every delete; this catches what they could not (a renumbered rowid).</summary>
internal sealed class SqliteTraceIndexCleanup : ITraceIndexCleanup
{
    public Task PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct) => SqliteFullTextIndex.PurgeOrphansAsync(db, ct);
}
