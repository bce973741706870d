using System.Buffers;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Keystone.Gateway.Tokenization;

namespace Keystone.Gateway.Providers.Anthropic;

/// <summary>
/// Anthropic Messages over raw HTTP. System messages become the top-level <c>system</c> blocks, tool messages become
/// <c>tool_result</c> blocks, and a <c>cache_control</c> breakpoint is put on the static prefix (tools, then system)
/// when that prefix is at least the model's minimum cacheable length. Usage counts cache reads and writes into
/// <see cref="Usage.InputTokens"/> (Anthropic's <c>input_tokens</c> excludes them).
/// </summary>
internal sealed class AnthropicProvider(string name, ProviderOptions options, IHttpClientFactory httpClients, TokenCounter tokens, TimeProvider time) : IModelProvider, IProviderKeyProbe
{
    private static readonly Uri DefaultBaseUrl = new("https://api.anthropic.com/v1/");
    private readonly ProviderEndpoint _endpoint = new(name, options, DefaultBaseUrl, httpClients);

    public string Name => name;

    public async Task<ProviderChatResponse> CompleteAsync(ProviderChatRequest request, CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(request.Credentials);
        using var message = Build(request, baseUrl, apiKey, stream: false);
        using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: false, time, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        try
        {
            return AnthropicResponseReader.ParseMessage(body);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new ProviderException($"{name}: the response is not a message ({ex.Message}).", (int)response.StatusCode, isRetryable: true, inner: ex);
        }
    }

    public async IAsyncEnumerable<ProviderStreamEvent> StreamAsync(ProviderChatRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(request.Credentials);
        using var message = Build(request, baseUrl, apiKey, stream: true);
        using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: true, time, ct);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        using var sse = new SseReader(body, name, _endpoint.IdleTimeout);
        var reader = new AnthropicStreamReader(name, apiKey);
        while (!reader.Stopped && await sse.ReadAsync(ct) is { } ev)
        {
            foreach (var e in reader.Translate(ev))
            {
                yield return e;
            }
        }

        if (!reader.Stopped)
        {
            throw new ProviderException($"{name}: the stream ended before message_stop.", null, isRetryable: true);
        }

        yield return new ProviderFinish(reader.Finish ?? "stop");
        yield return new ProviderUsage(reader.Usage ?? Usage.Zero);
    }

    public Task<ProviderEmbeddingResponse> EmbedAsync(string model, IReadOnlyList<string> inputs, int? dimensions,
        ProviderCredentials? credentials, CancellationToken ct)
        => throw new ProviderException($"{name}: Anthropic has no embeddings API; route embedding aliases to an OpenAI-kind or simulated provider.",
            400, isRetryable: false);

    /// <summary><c>GET {base}/models</c> (the base ends in <c>/v1/</c>) with <c>x-api-key</c> and <c>anthropic-version</c>: free, no tokens spent.</summary>
    public async Task<ProviderKeyCheck> CheckKeyAsync(string apiKey, CancellationToken ct)
    {
        var (baseUrl, _) = _endpoint.Target(null);
        using var message = new HttpRequestMessage(HttpMethod.Get, _endpoint.Url(baseUrl, "models"));
        message.Headers.TryAddWithoutValidation("anthropic-version", options.AnthropicVersion);
        message.Headers.TryAddWithoutValidation("x-api-key", apiKey);
        return await ProviderHttp.CheckKeyAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, time, ct);
    }

    private HttpRequestMessage Build(ProviderChatRequest request, Uri baseUrl, string? apiKey, bool stream)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            AnthropicRequestWriter.WriteBody(w, request, stream, options.PromptCacheMinTokens ?? AnthropicRequestWriter.MinimumCacheableTokens(request.Model), tokens);
        }

        var message = new HttpRequestMessage(HttpMethod.Post, ProviderHttp.Combine(baseUrl, "messages"))
        {
            Content = new ReadOnlyMemoryContent(buffer.WrittenMemory),
        };
        message.Content.Headers.ContentType = ProviderHttp.JsonMediaType;
        message.Headers.TryAddWithoutValidation("anthropic-version", options.AnthropicVersion);
        if (!string.IsNullOrEmpty(apiKey))
        {
            message.Headers.TryAddWithoutValidation("x-api-key", apiKey);
        }

        if (stream)
        {
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        }

        return message;
    }
}
