using Keystone.Data;

namespace Keystone.Web.Features.Traces;

/// <summary>
/// PostgreSQL: the search vector is a column of <c>llm_traces</c> (filled by its insert trigger) under a GIN index, deleted
/// with the row: nothing to clean up.
/// </summary>
internal sealed class PostgresTraceIndexCleanup : ITraceIndexCleanup
{
    public Task PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct) => Task.CompletedTask;
}
