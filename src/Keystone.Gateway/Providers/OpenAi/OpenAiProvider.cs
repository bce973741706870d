using System.Buffers;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Keystone.Gateway.Providers.OpenAi;

/// <summary>
/// OpenAI Chat Completions and Embeddings over raw HTTP (see docs/decisions: provider adapters use raw HTTP).
/// Works against any OpenAI-compatible base URL. Streams use <c>stream_options.include_usage</c> so the last chunk
/// carries usage, including cached prompt tokens and reasoning tokens.
/// </summary>
internal sealed class OpenAiProvider(string name, ProviderOptions options, IHttpClientFactory httpClients, TimeProvider time) : IModelProvider
{
    private static readonly Uri DefaultBaseUrl = new("https://api.openai.com/v1/");
    private readonly ProviderEndpoint _endpoint = new(name, options, DefaultBaseUrl, httpClients);

    public string Name => name;

    public async Task<ProviderChatResponse> CompleteAsync(ProviderChatRequest request, CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(request.Credentials);
        using var message = BuildChat(request, baseUrl, apiKey, stream: false);
        using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: false, time, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        try
        {
            return ParseChat(body);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new ProviderException($"{name}: the response is not a chat completion ({ex.Message}).", (int)response.StatusCode, isRetryable: true, inner: ex);
        }
    }

    public async IAsyncEnumerable<ProviderStreamEvent> StreamAsync(ProviderChatRequest request, [EnumeratorCancellation] CancellationToken ct)
    {
        var (baseUrl, apiKey) = _endpoint.Target(request.Credentials);
        using var message = BuildChat(request, baseUrl, apiKey, stream: true);
        using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: true, time, ct);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        using var sse = new SseReader(body, name, _endpoint.IdleTimeout);
        string? finish = null;
        Usage? usage = null;
        var done = false;
        var events = new List<ProviderStreamEvent>(2); // reused per chunk: each chunk's events are yielded before the next is read
        while (!done && await sse.ReadAsync(ct) is { } ev)
        {
            if (ev.Data == "[DONE]")
            {
                done = true;
                break;
            }

            var parsed = ParseChunk(ev.Data, apiKey, events);
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
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", model);
            w.WriteStartArray("input");
            foreach (var input in inputs)
            {
                w.WriteStringValue(input);
            }

            w.WriteEndArray();
            if (dimensions is { } d)
            {
                w.WriteNumber("dimensions", d);
            }

            w.WriteString("encoding_format", "float");
            w.WriteEndObject();
        }

        using var message = Post(ProviderHttp.Combine(baseUrl, "embeddings"), buffer, apiKey);
        using var response = await ProviderHttp.SendAsync(_endpoint.Client(), message, name, apiKey, _endpoint.Timeout, stream: false, time, ct);
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            var vectors = new float[inputs.Count][];
            foreach (var item in root.GetProperty("data").EnumerateArray())
            {
                var index = item.TryGetProperty("index", out var i) ? i.GetInt32() : 0;
                var embedding = item.GetProperty("embedding");
                var vector = new float[embedding.GetArrayLength()];
                var k = 0;
                foreach (var v in embedding.EnumerateArray())
                {
                    vector[k++] = v.GetSingle();
                }

                vectors[index] = vector;
            }

            if (vectors.Any(v => v is null))
            {
                throw new InvalidOperationException("an input got no vector");
            }

            var prompt = root.TryGetProperty("usage", out var u) && u.TryGetProperty("prompt_tokens", out var pt) ? pt.GetInt32() : 0;
            return new ProviderEmbeddingResponse(vectors, new Usage(prompt, 0), StringOrNull(root, "model"));
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or IndexOutOfRangeException)
        {
            throw new ProviderException($"{name}: the response is not an embeddings list ({ex.Message}).", (int)response.StatusCode, isRetryable: true, inner: ex);
        }
    }

    private HttpRequestMessage Post(Uri uri, ArrayBufferWriter<byte> body, string? apiKey)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            Content = new ReadOnlyMemoryContent(body.WrittenMemory),
        };
        message.Content.Headers.ContentType = ProviderHttp.JsonMediaType;
        if (!string.IsNullOrEmpty(apiKey))
        {
            if (string.Equals(options.ApiKeyHeader, "Authorization", StringComparison.OrdinalIgnoreCase))
            {
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            }
            else
            {
                message.Headers.TryAddWithoutValidation(options.ApiKeyHeader, apiKey);
            }
        }

        return message;
    }

    private HttpRequestMessage BuildChat(ProviderChatRequest request, Uri baseUrl, string? apiKey, bool stream)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            WriteChatBody(w, request, stream, MaxTokensParameter(baseUrl));
        }

        var message = Post(ProviderHttp.Combine(baseUrl, "chat/completions"), buffer, apiKey);
        if (stream)
        {
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        }

        return message;
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

    internal static void WriteChatBody(Utf8JsonWriter w, ProviderChatRequest request, bool stream, string maxTokensParameter)
    {
        var r = request.Request;
        w.WriteStartObject();
        w.WriteString("model", request.Model);
        w.WriteStartArray("messages");
        foreach (var m in r.Messages)
        {
            w.WriteStartObject();
            w.WriteString("role", m.Role);
            if (m.Content is null)
            {
                w.WriteNull("content");
            }
            else
            {
                w.WriteString("content", m.Content);
            }

            if (m.Name is not null)
            {
                w.WriteString("name", m.Name);
            }

            if (m.ToolCallId is not null)
            {
                w.WriteString("tool_call_id", m.ToolCallId);
            }

            if (m.ToolCalls is { Count: > 0 })
            {
                w.WriteStartArray("tool_calls");
                foreach (var call in m.ToolCalls)
                {
                    w.WriteStartObject();
                    w.WriteString("id", call.Id);
                    w.WriteString("type", "function");
                    w.WriteStartObject("function");
                    w.WriteString("name", call.Name);
                    w.WriteString("arguments", call.ArgumentsJson);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteNumber(maxTokensParameter, request.MaxTokens);
        if (r.Temperature is { } temperature)
        {
            w.WriteNumber("temperature", temperature);
        }

        if (r.TopP is { } topP)
        {
            w.WriteNumber("top_p", topP);
        }

        if (r.Seed is { } seed)
        {
            w.WriteNumber("seed", seed);
        }

        if (r.FrequencyPenalty is { } frequencyPenalty)
        {
            w.WriteNumber("frequency_penalty", frequencyPenalty);
        }

        if (r.PresencePenalty is { } presencePenalty)
        {
            w.WriteNumber("presence_penalty", presencePenalty);
        }

        if (r.ReasoningEffort is { } effort)
        {
            w.WriteString("reasoning_effort", effort);
        }

        if (r.Stop is { Count: > 0 })
        {
            w.WriteStartArray("stop");
            foreach (var s in r.Stop)
            {
                w.WriteStringValue(s);
            }

            w.WriteEndArray();
        }

        if (r.Tools is { Count: > 0 })
        {
            w.WriteStartArray("tools");
            foreach (var tool in r.Tools)
            {
                w.WriteStartObject();
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", tool.Name);
                if (tool.Description is not null)
                {
                    w.WriteString("description", tool.Description);
                }

                if (tool.Parameters is { } parameters)
                {
                    w.WritePropertyName("parameters");
                    parameters.WriteTo(w);
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        if (r.ToolChoice is { } toolChoice)
        {
            w.WritePropertyName("tool_choice");
            toolChoice.WriteTo(w);
        }

        // OpenAI rejects parallel_tool_calls on a request without tools.
        if (r.ParallelToolCalls is { } parallel && r.Tools is { Count: > 0 })
        {
            w.WriteBoolean("parallel_tool_calls", parallel);
        }

        if (r.ResponseFormat is { } format)
        {
            w.WriteStartObject("response_format");
            w.WriteString("type", format.Type);
            if (format.Type == "json_schema")
            {
                w.WriteStartObject("json_schema");
                w.WriteString("name", format.SchemaName ?? "response");
                if (format.Schema is { } schema)
                {
                    w.WritePropertyName("schema");
                    schema.WriteTo(w);
                }

                w.WriteBoolean("strict", format.Strict);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        if (stream)
        {
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    internal static ProviderChatResponse ParseChat(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        var choice = root.GetProperty("choices")[0];
        var message = choice.GetProperty("message");
        var text = StringOrNull(message, "content") ?? "";
        var calls = new List<ToolCall>();
        if (message.TryGetProperty("tool_calls", out var toolCalls) && toolCalls.ValueKind == JsonValueKind.Array)
        {
            foreach (var call in toolCalls.EnumerateArray())
            {
                var function = call.GetProperty("function");
                calls.Add(new ToolCall(StringOrNull(call, "id") ?? "", StringOrNull(function, "name") ?? "", StringOrNull(function, "arguments") ?? "{}"));
            }
        }

        var finish = NormalizeFinish(StringOrNull(choice, "finish_reason")) ?? "stop";
        var usage = root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object ? ParseUsage(u) : Usage.Zero;
        return new ProviderChatResponse(text, calls, finish, usage, StringOrNull(root, "model"));
    }

    /// <summary>Reads <c>prompt_tokens</c> (cached included), <c>completion_tokens</c> (reasoning included) and their details.</summary>
    internal static Usage ParseUsage(JsonElement u)
    {
        var input = IntOrZero(u, "prompt_tokens");
        var output = IntOrZero(u, "completion_tokens");
        var cached = u.TryGetProperty("prompt_tokens_details", out var pd) && pd.ValueKind == JsonValueKind.Object ? IntOrZero(pd, "cached_tokens") : 0;
        var reasoning = u.TryGetProperty("completion_tokens_details", out var cd) && cd.ValueKind == JsonValueKind.Object ? IntOrZero(cd, "reasoning_tokens") : 0;
        return new Usage(input, output, CachedInputTokens: cached, ReasoningTokens: reasoning);
    }

    private readonly record struct Chunk(List<ProviderStreamEvent> Events, string? Finish, Usage? Usage);

    private Chunk ParseChunk(string data, string? apiKey, List<ProviderStreamEvent> events)
    {
        events.Clear();
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(data);
        }
        catch (JsonException ex)
        {
            throw new ProviderException($"{name}: a stream chunk is not JSON ({ex.Message}).", null, isRetryable: true, inner: ex);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.TryGetProperty("error", out _))
            {
                // Some compatible servers report a failure mid-stream as an error object instead of a status.
                var status = root.GetProperty("error") is { ValueKind: JsonValueKind.Object } e && e.TryGetProperty("code", out var c)
                    && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : 500;
                throw ProviderHttp.FromStatus(name, status, data, null, apiKey);
            }

            string? finish = null;
            if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array)
            {
                foreach (var choice in choices.EnumerateArray())
                {
                    if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object)
                    {
                        if (StringOrNull(delta, "content") is { Length: > 0 } text)
                        {
                            events.Add(new ProviderTextDelta(text));
                        }

                        if (delta.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
                        {
                            foreach (var call in calls.EnumerateArray())
                            {
                                var index = call.TryGetProperty("index", out var i) ? i.GetInt32() : 0;
                                string? fnName = null, args = null;
                                if (call.TryGetProperty("function", out var fn) && fn.ValueKind == JsonValueKind.Object)
                                {
                                    fnName = StringOrNull(fn, "name");
                                    args = StringOrNull(fn, "arguments");
                                }

                                events.Add(new ProviderToolCallDelta(index, StringOrNull(call, "id"), fnName, args));
                            }
                        }
                    }

                    finish = NormalizeFinish(StringOrNull(choice, "finish_reason")) ?? finish;
                }
            }

            var usage = root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object ? ParseUsage(u) : null;
            return new Chunk(events, finish, usage);
        }
    }

    /// <summary>OpenAI's values pass through; <c>function_call</c> (legacy) is a tool call; <c>eos</c> (some servers) is a stop.</summary>
    internal static string? NormalizeFinish(string? finish) => finish switch
    {
        null => null,
        "function_call" => "tool_calls",
        "eos" or "end_turn" => "stop",
        "max_tokens" => "length",
        _ => finish,
    };

    private static string? StringOrNull(JsonElement e, string property)
        => e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int IntOrZero(JsonElement e, string property)
        => e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : 0;
}
