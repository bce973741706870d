namespace Keystone.Gateway;

/// <summary>A model the tenant may call.</summary>
/// <param name="Id">The alias (<c>smart</c>) or <c>provider/model</c>.</param>
/// <param name="Kind"><c>alias</c> or <c>model</c>.</param>
/// <param name="Targets">For aliases: the ordered <c>provider/model</c> chain.</param>
/// <param name="IsEmbedding">True for embedding models.</param>
public sealed record ModelInfo(string Id, string Kind, IReadOnlyList<string> Targets, bool IsEmbedding);

/// <summary>
/// The only way any code in Keystone calls a model (a request's path: docs/architecture.md): context, alias resolution,
/// rate limits, budget reservation, caches, provider chain with fallback, settle, record, metrics.
/// </summary>
public interface ILlmGateway
{
    /// <summary>A complete (non-streamed) chat completion. Throws <see cref="GatewayException"/> when there is no answer.</summary>
    Task<ChatResult> CompleteAsync(ChatRequest request, CallContext context, CancellationToken ct);

    /// <summary>
    /// A streamed chat completion. Rejections before the first token (budget, rate limit, every target
    /// down) throw <see cref="GatewayException"/> on the first <c>MoveNextAsync</c>; a failure after tokens
    /// ends the stream with <see cref="StreamFailed"/>. Cancelling <paramref name="ct"/> aborts the upstream call.
    /// </summary>
    IAsyncEnumerable<ChatStreamEvent> StreamAsync(ChatRequest request, CallContext context, CancellationToken ct);

    /// <summary>Embeddings for the inputs, in order.</summary>
    Task<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CallContext context, CancellationToken ct);

    /// <summary>The aliases and models this tenant may use.</summary>
    Task<IReadOnlyList<ModelInfo>> ModelsAsync(Guid tenantId, CancellationToken ct);
}
