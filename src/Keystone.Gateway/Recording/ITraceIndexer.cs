namespace Keystone.Gateway.Recording;

/// <summary>
/// Makes recorded traces searchable. One implementation per database mode: SQLite indexes in the background, after
/// the recorder's commit (<see cref="SqliteTraceIndexer"/>); PostgreSQL's search column is generated with the row, so
/// there is nothing left to do (<see cref="PostgresTraceIndexer"/>).
/// </summary>
internal interface ITraceIndexer
{
    /// <summary>True when the batch writer must fill <c>LlmTrace.SearchText</c> (the database indexes it on write).</summary>
    bool NeedsSearchText { get; }

    /// <summary>
    /// True when the batch writer hands <c>LlmTrace.SearchText</c> to the indexer in memory (SQLite, decision 0071): the
    /// recorder then derives it exactly as the indexer would from the stored payloads (<see cref="TraceSearchText.ForIndexer"/>).
    /// </summary>
    bool TakesSearchText { get; }

    /// <summary>The recorder committed a batch: index it soon.</summary>
    void Written();

    /// <summary>Waits until every trace stored before the call is searchable (tests, demo seeds, graceful stop).</summary>
    Task CatchUpAsync(CancellationToken ct);
}

/// <summary>PostgreSQL: the <c>search_vector</c> column is computed from <c>search_text</c> as the row is inserted.</summary>
internal sealed class PostgresTraceIndexer : ITraceIndexer
{
    public bool NeedsSearchText => true;

    public bool TakesSearchText => false;

    public void Written()
    {
    }

    public Task CatchUpAsync(CancellationToken ct) => Task.CompletedTask;
}
