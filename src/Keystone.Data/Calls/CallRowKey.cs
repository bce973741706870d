namespace Keystone.Data.Calls;

/// <summary>
/// SQLite only: a call row's rowid in a LINQ query, the trace search's keyset tie-breaker on the embedded database
/// (issue 26). Every SQLite index entry already ends with the rowid, so ordering by (cost, rowid) is served by an index
/// on (tenant, cost) alone; with the call id as the tie-breaker each such index held a second 36-character copy of it.
/// Translated by <c>SqliteModel</c> (registered on the SQLite model only: a PostgreSQL query using it fails to translate).
/// </summary>
public static class CallRowKey
{
    /// <summary>The rowid of the call row whose <c>id</c> column is <paramref name="callId"/> (pass the row's own <c>Id</c> property).</summary>
    public static long Of(Guid callId) => throw new InvalidOperationException($"{nameof(CallRowKey)}.{nameof(Of)} runs only inside a SQLite query.");
}
