namespace Keystone.Gateway;

/// <summary>Per-request credentials for a provider call (BYOK), overriding the configured ones.</summary>
/// <param name="ApiKey">The tenant's provider key (decrypted only for the call; never logged or recorded).</param>
/// <param name="BaseUrl">An alternative base URL (Azure OpenAI deployment, a tenant's own vLLM), if any.</param>
public sealed record ProviderCredentials(string ApiKey, Uri? BaseUrl = null);

/// <summary>A chat request addressed to one provider model.</summary>
/// <param name="Model">The provider's model name (<c>gpt-4o-mini</c>).</param>
/// <param name="Request">The request (its <see cref="ChatRequest.Model"/> is the alias the caller used).</param>
/// <param name="MaxTokens">The effective output limit (the caller's or the gateway's default).</param>
/// <param name="Credentials">BYOK credentials, when the tenant brings its own key.</param>
public sealed record ProviderChatRequest(string Model, ChatRequest Request, int MaxTokens, ProviderCredentials? Credentials = null);

/// <summary>A complete answer from a provider.</summary>
/// <param name="Text">Answer text.</param>
/// <param name="ToolCalls">Tool calls.</param>
/// <param name="FinishReason">Normalized to OpenAI's values: <c>stop</c>, <c>length</c>, <c>tool_calls</c>, <c>content_filter</c>.</param>
/// <param name="Usage">Usage as reported (every field the provider gives).</param>
/// <param name="ProviderModel">The model the provider says answered (may be a dated snapshot).</param>
public sealed record ProviderChatResponse(string Text, IReadOnlyList<ToolCall> ToolCalls, string FinishReason, Usage Usage, string? ProviderModel);

/// <summary>One event of a provider stream, already translated from the wire format.</summary>
public abstract record ProviderStreamEvent;

/// <summary>Answer text.</summary>
public sealed record ProviderTextDelta(string Text) : ProviderStreamEvent;

/// <summary>A tool-call fragment.</summary>
public sealed record ProviderToolCallDelta(int Index, string? Id, string? Name, string? ArgumentsFragment) : ProviderStreamEvent;

/// <summary>Usage, when the provider reports it (OpenAI: last chunk with <c>include_usage</c>; Anthropic: <c>message_start</c> + <c>message_delta</c>, merged by the adapter).</summary>
public sealed record ProviderUsage(Usage Usage) : ProviderStreamEvent;

/// <summary>The stream's finish reason (normalized like <see cref="ProviderChatResponse.FinishReason"/>).</summary>
public sealed record ProviderFinish(string FinishReason) : ProviderStreamEvent;

/// <summary>Embeddings from a provider.</summary>
public sealed record ProviderEmbeddingResponse(IReadOnlyList<float[]> Vectors, Usage Usage, string? ProviderModel);

/// <summary>
/// A provider failure, classified for the fallback chain: <see cref="IsRetryable"/> is true for 408, 429,
/// 5xx, timeouts and connection failures (try the next target), false for 4xx request errors (stop).
/// </summary>
public sealed class ProviderException(string message, int? statusCode, bool isRetryable, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    public int? StatusCode { get; } = statusCode;

    public bool IsRetryable { get; } = isRetryable;

    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>
/// One configured provider (<c>Gateway:Providers:&lt;name&gt;</c>) speaking its real wire format:
/// OpenAI Chat Completions / Embeddings (and every OpenAI-compatible endpoint), Anthropic Messages, or
/// the built-in simulated provider. Adapters throw <see cref="ProviderException"/> for upstream failures.
/// </summary>
public interface IModelProvider
{
    /// <summary>The configured name (<c>openai</c>, <c>anthropic</c>, <c>sim</c>).</summary>
    string Name { get; }

    Task<ProviderChatResponse> CompleteAsync(ProviderChatRequest request, CancellationToken ct);

    /// <summary>Streams the answer; ends after <see cref="ProviderFinish"/> and (when reported) <see cref="ProviderUsage"/>.</summary>
    IAsyncEnumerable<ProviderStreamEvent> StreamAsync(ProviderChatRequest request, CancellationToken ct);

    Task<ProviderEmbeddingResponse> EmbedAsync(string model, IReadOnlyList<string> inputs, int? dimensions,
        ProviderCredentials? credentials, CancellationToken ct);
}
