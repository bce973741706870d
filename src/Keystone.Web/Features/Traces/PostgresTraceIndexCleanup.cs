using Keystone.Data;

namespace Keystone.Web.Features.Traces;

/// <summary>PostgreSQL: the search vector is a generated column of <c>llm_traces</c> under a GIN index, deleted with the row.</summary>
internal sealed class PostgresTraceIndexCleanup : ITraceIndexCleanup
{
    public Task PurgeOrphansAsync(KeystoneDbContext db, CancellationToken ct) => Task.CompletedTask;
}
