using Keystone.Data;
using Keystone.Data.Calls;

namespace Keystone.Gateway.Recording;

/// <summary>
/// PostgreSQL: the traces' payloads packed per tenant and batch as on SQLite (<see cref="TracePack"/>, decision 69), the
/// rows inserted a table at a time from column arrays (<see cref="PostgresRowWriter"/>), one transaction per batch.
/// </summary>
internal sealed class PostgresCallBatchWriter : ICallBatchWriter
{
    public void Write(KeystoneDbContext db, IReadOnlyList<LlmCall> calls, IReadOnlyList<LlmTrace> traces)
        => PostgresRowWriter.InsertPacked(db, calls, traces);
}
