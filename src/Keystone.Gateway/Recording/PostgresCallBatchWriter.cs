using Keystone.Data;
using Keystone.Data.Calls;

namespace Keystone.Gateway.Recording;

/// <summary>
/// PostgreSQL: the traces' payloads packed per tenant and batch as on SQLite (<see cref="TracePack"/>, issue 26: the same
/// system prompt compressed once per pack instead of once per row by TOAST), saved with EF Core's batched commands. Two
/// saves in one transaction: the packs first, for the ids their identity column gives them, then the call rows and the
/// slim trace rows that point at them. A trace row keeps its search text: the insert trigger turns it into the search
/// vector (and drops the text).
/// </summary>
internal sealed class PostgresCallBatchWriter : ICallBatchWriter
{
    public void Write(KeystoneDbContext db, IReadOnlyList<LlmCall> calls, IReadOnlyList<LlmTrace> traces)
    {
        // Compression before the transaction opens: the database's locks are not held while Brotli runs.
        var packs = TracePack.PerTenant(traces);
        using var tx = db.Database.BeginTransaction();
        db.Set<LlmTracePack>().AddRange(packs.Select(p => p.Pack));
        db.SaveChanges();
        db.Calls.AddRange(calls);
        foreach (var (packed, pack) in packs)
        {
            for (var slot = 0; slot < packed.Length; slot++)
            {
                var row = TracePack.Slim(packed[slot], pack.Id, slot);
                row.SearchText = packed[slot].SearchText;
                db.Traces.Add(row);
            }
        }

        db.SaveChanges();
        tx.Commit();
    }
}
