using System.Buffers;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Keystone.Gateway.Telemetry;

namespace Keystone.Gateway.Providers.OpenAi;

/// <summary>
/// OpenAI Chat Completions and Embeddings over raw HTTP (see docs/decisions: provider adapters use raw HTTP).
/// Works against any OpenAI-compatible base URL. Streams use <c>stream_options.include_usage</c> so the last chunk
/// carries usage, including cached prompt tokens and reasoning tokens.
/// </summary>
internal sealed class OpenAiProvider(string name, ProviderOptions options, IHttpClientFactory httpClients, TimeProvider time) : IModelProvider, IProviderKeyProbe
{
    private static readonly Uri DefaultBaseUrl = new("https://api.openai.com/v1/");
    private readonly ProviderEndpoint _endpoint = new(name, options, DefaultBaseUrl, httpClients);

    public string Name => name;

    public async Task<ProviderChatResponse> CompleteAsync(ProviderChatRequest request, CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(request.Credentials);
        // The body's pooled buffer goes back once the request is done with it (declared first: disposed last).
        using var body = new PooledBodyWriter(BodySizeHint(request));
        using var message = BuildChat(request, body, baseUrl, apiKey, stream: false);
        using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: false, time, ct);
        var answer = await response.Content.ReadAsByteArrayAsync(ct);
        try
        {
            return OpenAiResponseReader.ParseChat(answer);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new ProviderException($"{name}: the response is not a chat completion ({ex.Message}).", (int)response.StatusCode, isRetryable: true, inner: ex);
        }
    }

    public async IAsyncEnumerable<ProviderStreamEvent> StreamAsync(ProviderChatRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(request.Credentials);
        // A stream keeps its request message (and the connection keeps it as its current request) until the answer ends, so
        // the body is sent from an array of its own size and the pooled buffer it was written in goes back at once (issue 26,
        // memory per open stream): the pooled one is sized for the JSON writer's worst case (8 KB for the benchmark's 2 KB
        // prompt, against a 2.5 KB body), and a heap dump at 1,000 open streams found one held by each.
        byte[] content;
        using (var body = new PooledBodyWriter(BodySizeHint(request)))
        {
            WriteChat(request, body, baseUrl, stream: true);
            content = body.WrittenMemory.ToArray();
        }

        using var message = ChatMessage(baseUrl, content, apiKey, stream: true);
        FirstTokenStages.Mark(FirstTokenStages.Stage.UpstreamSend);
        using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: true, time, ct);
        FirstTokenStages.Mark(FirstTokenStages.Stage.UpstreamHeaders);
        await using var events = await response.Content.ReadAsStreamAsync(ct);
        using var sse = new SseReader(events, name, _endpoint.IdleTimeout);
        string? finish = null;
        Usage? usage = null;
        var done = false;
        var parsedEvents = new List<ProviderStreamEvent>(2); // reused per chunk: each chunk's events are yielded before the next is read
        while (!done && await sse.ReadAsync(ct) is { } ev)
        {
            FirstTokenStages.Mark(FirstTokenStages.Stage.UpstreamFirstEvent);
            if (ev.Data == "[DONE]")
            {
                done = true;
                break;
            }

            var parsed = OpenAiResponseReader.ParseChunk(name, ev.Data, apiKey, parsedEvents);
            finish = parsed.Finish ?? finish;
            usage = parsed.Usage ?? usage;
            foreach (var e in parsed.Events)
            {
                yield return e;
            }
        }

        if (!done && finish is null)
        {
            throw new ProviderException($"{name}: the stream ended before the answer was complete.", null, isRetryable: true);
        }

        yield return new ProviderFinish(finish ?? "stop");
        if (usage is not null)
        {
            yield return new ProviderUsage(usage);
        }
    }

    public async Task<ProviderEmbeddingResponse> EmbedAsync(string model, IReadOnlyList<string> inputs, int? dimensions,
        ProviderCredentials? credentials, CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(credentials);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, OpenAiRequestWriter.WriterOptions))
        {
            OpenAiRequestWriter.WriteEmbeddingsBody(w, model, inputs, dimensions);
        }

        using var message = Post(_endpoint.Url(baseUrl, "embeddings"), buffer.WrittenMemory, apiKey);
        using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: false, time, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        try
        {
            return OpenAiResponseReader.ParseEmbeddings(body, inputs.Count);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or IndexOutOfRangeException)
        {
            throw new ProviderException($"{name}: the response is not an embeddings list ({ex.Message}).", (int)response.StatusCode, isRetryable: true, inner: ex);
        }
    }

    /// <summary><c>GET {base}/models</c> with the key as configured (bearer, or the provider's key header): free, and every compatible server has it.</summary>
    public async Task<ProviderKeyCheck> CheckKeyAsync(string apiKey, CancellationToken ct)
    {
        var (baseUrl, _) = _endpoint.Target(null);
        using var message = new HttpRequestMessage(HttpMethod.Get, _endpoint.Url(baseUrl, "models"));
        ProviderHttp.AddApiKey(message, options, apiKey);
        return await ProviderHttp.CheckKeyAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, time, ct);
    }

    private HttpRequestMessage Post(Uri uri, ReadOnlyMemory<byte> body, string? apiKey)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Content = new ReadOnlyMemoryContent(body),
        };
        message.Content.Headers.ContentType = ProviderHttp.JsonMediaType;
        ProviderHttp.AddApiKey(message, options, apiKey);

        return message;
    }

    private HttpRequestMessage BuildChat(ProviderChatRequest request, PooledBodyWriter body, Uri baseUrl, string? apiKey, bool stream)
    {
        WriteChat(request, body, baseUrl, stream);
        return ChatMessage(baseUrl, body.WrittenMemory, apiKey, stream);
    }

    private void WriteChat(ProviderChatRequest request, PooledBodyWriter body, Uri baseUrl, bool stream)
    {
        using var w = new Utf8JsonWriter(body, OpenAiRequestWriter.WriterOptions);
        OpenAiRequestWriter.WriteChatBody(w, request, stream, MaxTokensParameter(baseUrl));
    }

    private HttpRequestMessage ChatMessage(Uri baseUrl, ReadOnlyMemory<byte> content, string? apiKey, bool stream)
    {
        var message = Post(_endpoint.Url(baseUrl, "chat/completions"), content, apiKey);
        if (stream)
        {
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        }

        return message;
    }

    /// <summary>
    /// Room for the body at the first try: the messages' characters (ASCII text is one byte each) and the fields around
    /// them; the writer still asks for a string's worst case before writing it, and the pooled buffer grows once then.
    /// </summary>
    private static int BodySizeHint(ProviderChatRequest request)
    {
        var chars = 512;
        foreach (var m in request.Request.Messages)
        {
            chars += (m.Content?.Length ?? 0) + 64;
        }

        return Math.Min(chars, 1 << 20);
    }

    /// <summary>OpenAI itself (and Azure) want <c>max_completion_tokens</c> (reasoning models reject the old field); other servers mostly know only <c>max_tokens</c>.</summary>
    private string MaxTokensParameter(Uri baseUrl)
    {
        return options.MaxTokensParameter ?? DefaultMaxTokensParameter(baseUrl);
    }

    internal static string DefaultMaxTokensParameter(Uri baseUrl)
    {
        var host = baseUrl.Host;
        return host.Equals("api.openai.com", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".openai.azure.com", StringComparison.OrdinalIgnoreCase)
            ? "max_completion_tokens"
            : "max_tokens";
    }
}
