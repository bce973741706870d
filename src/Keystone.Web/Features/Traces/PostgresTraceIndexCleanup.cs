using Keystone.Data;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// PostgreSQL: the search vector is a column of <c>llm_traces</c> (filled by its insert trigger) under a GIN index, deleted
/// with the row; payloads are in the trace rows (no packs on PostgreSQL).
/// </summary>
internal sealed class PostgresTraceIndexCleanup : ITraceIndexCleanup
{
    public Task PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct) => Task.CompletedTask;

    public Task<int> PurgePacksAsync(KeystoneDbContext db, Guid? tenantId, IReadOnlyCollection<Guid> excluded, DateTime rawBefore,
        DateTime redactedBefore, DateTime now, CancellationToken ct) => Task.FromResult(0);
}
