using Keystone.Data;
using Keystone.Data.Calls;

namespace Keystone.Gateway.Recording;

/// <summary>PostgreSQL: SaveChanges, whose batched commands save a round trip per row.</summary>
internal sealed class PostgresCallBatchWriter : ICallBatchWriter
{
    public void Write(KeystoneDbContext db, IReadOnlyList<LlmCall> calls, IReadOnlyList<LlmTrace> traces)
    {
        db.Calls.AddRange(calls);
        db.Traces.AddRange(traces);
        db.SaveChanges();
    }
}
