using Keystone.Data;
using Keystone.Data.Calls;

namespace Keystone.Gateway.Recording;

/// <summary>
/// SQLite: prepared inserts bound row by row (<see cref="SqliteRowWriter"/>), where EF Core's per-row work is the bottleneck,
/// with the traces' payloads packed per tenant and batch (<see cref="SqliteRowWriter.InsertPacked"/>, issue 26).
/// </summary>
internal sealed class SqliteCallBatchWriter : ICallBatchWriter
{
    public void Write(KeystoneDbContext db, IReadOnlyList<LlmCall> calls, IReadOnlyList<LlmTrace> traces)
        => SqliteRowWriter.InsertPacked(db, calls, traces);
}
