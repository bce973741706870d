namespace Keystone.Gateway.Providers.Batches;

/// <summary>One request of a provider batch: its id inside the batch (<c>custom_id</c>) and the chat request.</summary>
/// <param name="CustomId">Unique within the batch; the result line names it.</param>
/// <param name="Request">The request, addressed to the provider model.</param>
internal sealed record ProviderBatchLine(string CustomId, ProviderChatRequest Request);

/// <summary>A provider batch as the provider reports it (OpenAI's Batch object).</summary>
/// <param name="Id">The provider's batch id.</param>
/// <param name="Status"><c>validating</c>, <c>in_progress</c>, <c>finalizing</c>, <c>completed</c>, <c>failed</c>, <c>expired</c>, <c>cancelling</c> or <c>cancelled</c>.</param>
/// <param name="Total">Requests in the batch (<c>request_counts.total</c>).</param>
/// <param name="Completed">Requests answered so far.</param>
/// <param name="Failed">Requests that failed so far.</param>
/// <param name="OutputFileId">The file of answered lines, once there is one.</param>
/// <param name="ErrorFileId">The file of failed (and expired) lines, once there is one.</param>
/// <param name="Error">Why the whole batch failed (validation errors), if it did.</param>
internal sealed record ProviderBatchState(string Id, string Status, int Total, int Completed, int Failed, string? OutputFileId, string? ErrorFileId,
    string? Error = null)
{
    /// <summary>The provider will not change the batch any more: its results can be read.</summary>
    public bool IsTerminal => Status is "completed" or "failed" or "expired" or "cancelled";
}

/// <summary>One result line: the answer, or why the request got none.</summary>
/// <param name="CustomId">The request it answers.</param>
/// <param name="Response">The chat completion (status 200), else null.</param>
/// <param name="Error">Why there is no answer (the line's <c>error</c>, or a non-200 response's error message).</param>
internal sealed record ProviderBatchResult(string CustomId, ProviderChatResponse? Response, string? Error);

/// <summary>
/// A provider's batch interface (the OpenAI Batch API's flow: upload, create, poll, fetch, cancel), for providers that
/// have one. Adapters throw <see cref="ProviderException"/> for upstream failures, like the live ones.
/// </summary>
internal interface IBatchModelProvider
{
    /// <summary>Uploads the lines and creates the batch; returns its first state.</summary>
    Task<ProviderBatchState> SubmitAsync(IReadOnlyList<ProviderBatchLine> lines, ProviderCredentials? credentials, CancellationToken ct);

    /// <summary>The batch's state now.</summary>
    Task<ProviderBatchState> GetAsync(string batchId, ProviderCredentials? credentials, CancellationToken ct);

    /// <summary>Every result line of a terminal batch (its output and error files).</summary>
    Task<IReadOnlyList<ProviderBatchResult>> ResultsAsync(ProviderBatchState batch, ProviderCredentials? credentials, CancellationToken ct);

    /// <summary>Asks the provider to cancel; lines already answered stay answered.</summary>
    Task<ProviderBatchState> CancelAsync(string batchId, ProviderCredentials? credentials, CancellationToken ct);
}
