using Keystone.Data;
using Keystone.Data.Calls;

namespace Keystone.Gateway.Recording;

/// <summary>
/// SQLite: prepared inserts bound row by row (<see cref="SqliteRowWriter"/>), where EF Core's per-row work is the bottleneck,
/// with the traces' payloads packed per tenant and batch (<see cref="SqliteRowWriter.InsertPacked"/>, issue 26). Once the
/// batch is committed, the search texts the recorder derived go to the background indexer (decision 0071).
/// </summary>
/// <param name="handoff">Where the indexer finds the texts; without it (or for a trace without one) the indexer derives
/// the text from the stored payloads.</param>
internal sealed class SqliteCallBatchWriter(SearchTextHandoff? handoff = null) : ICallBatchWriter
{
    public void Write(KeystoneDbContext db, IReadOnlyList<LlmCall> calls, IReadOnlyList<LlmTrace> traces)
    {
        var stored = SqliteRowWriter.InsertPacked(db, calls, traces);
        handoff?.Offer(stored.Where(s => s.Trace.SearchText is not null).Select(s => (s.Rowid, s.Trace.CallId, s.Trace.SearchText!)));
    }
}
