using Keystone.Data;
using Keystone.Data.Calls;

namespace Keystone.Gateway.Recording;

/// <summary>SQLite: prepared inserts bound row by row (<see cref="SqliteRowWriter"/>), where EF Core's per-row work is the bottleneck.</summary>
internal sealed class SqliteCallBatchWriter : ICallBatchWriter
{
    public void Write(KeystoneDbContext db, IReadOnlyList<LlmCall> calls, IReadOnlyList<LlmTrace> traces)
        => SqliteRowWriter.Insert(db, calls, traces);
}
