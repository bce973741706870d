using System.Buffers;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Keystone.Gateway.Tokenization;

namespace Keystone.Gateway.Providers.Anthropic;

/// <summary>
/// Anthropic Messages over raw HTTP. System messages become the top-level <c>system</c> blocks, tool messages become
/// <c>tool_result</c> blocks, and a <c>cache_control</c> breakpoint is put on the static prefix (tools, then system)
/// when that prefix is at least the model's minimum cacheable length. Usage counts cache reads and writes into
/// <see cref="Usage.InputTokens"/> (Anthropic's <c>input_tokens</c> excludes them).
/// </summary>
internal sealed class AnthropicProvider(string name, ProviderOptions options, IHttpClientFactory httpClients, TokenCounter tokens, TimeProvider time) : IModelProvider
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
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            var text = new StringBuilder();
            var calls = new List<ToolCall>();
            foreach (var block in root.GetProperty("content").EnumerateArray())
            {
                switch (Str(block, "type"))
                {
                    case "text":
                        text.Append(Str(block, "text"));
                        break;
                    case "tool_use":
                        calls.Add(new ToolCall(Str(block, "id") ?? "", Str(block, "name") ?? "",
                            block.TryGetProperty("input", out var input) ? input.GetRawText() : "{}"));
                        break;
                    default:
                        break; // thinking and server-tool blocks are not answer text
                }
            }

            var usage = root.TryGetProperty("usage", out var u) ? ParseUsage(u, null) : Usage.Zero;
            return new ProviderChatResponse(text.ToString(), calls, NormalizeStop(Str(root, "stop_reason")), usage, Str(root, "model"));
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
        var state = new StreamState();
        while (!state.Stopped && await sse.ReadAsync(ct) is { } ev)
        {
            foreach (var e in Translate(ev, state, apiKey))
            {
                yield return e;
            }
        }

        if (!state.Stopped)
        {
            throw new ProviderException($"{name}: the stream ended before message_stop.", null, isRetryable: true);
        }

        yield return new ProviderFinish(state.Finish ?? "stop");
        yield return new ProviderUsage(state.Usage ?? Usage.Zero);
    }

    public Task<ProviderEmbeddingResponse> EmbedAsync(string model, IReadOnlyList<string> inputs, int? dimensions,
        ProviderCredentials? credentials, CancellationToken ct)
        => throw new ProviderException($"{name}: Anthropic has no embeddings API; route embedding aliases to an OpenAI-kind or simulated provider.",
            400, isRetryable: false);

    private sealed class StreamState
    {
        public Usage? Usage;
        public string? Finish;
        public bool Stopped;

        /// <summary>Anthropic content block index → our tool-call index (tool_use blocks counted in order).</summary>
        public readonly Dictionary<int, int> ToolIndexByBlock = [];
    }

    private List<ProviderStreamEvent> Translate(SseEvent ev, StreamState state, string? apiKey)
    {
        var events = new List<ProviderStreamEvent>(1);
        if (ev.Event == "ping")
        {
            return events;
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(ev.Data);
        }
        catch (JsonException ex)
        {
            throw new ProviderException($"{name}: a stream event is not JSON ({ex.Message}).", null, isRetryable: true, inner: ex);
        }

        using (doc)
        {
            var root = doc.RootElement;
            var type = ev.Event ?? Str(root, "type");
            switch (type)
            {
                case "message_start":
                    if (root.TryGetProperty("message", out var msg) && msg.TryGetProperty("usage", out var startUsage))
                    {
                        state.Usage = ParseUsage(startUsage, null);
                    }

                    break;
                case "content_block_start":
                {
                    var index = root.GetProperty("index").GetInt32();
                    var block = root.GetProperty("content_block");
                    if (Str(block, "type") == "tool_use")
                    {
                        var toolIndex = state.ToolIndexByBlock.Count;
                        state.ToolIndexByBlock[index] = toolIndex;
                        events.Add(new ProviderToolCallDelta(toolIndex, Str(block, "id"), Str(block, "name"), null));
                    }
                    else if (Str(block, "type") == "text" && Str(block, "text") is { Length: > 0 } initial)
                    {
                        events.Add(new ProviderTextDelta(initial));
                    }

                    break;
                }

                case "content_block_delta":
                {
                    var index = root.GetProperty("index").GetInt32();
                    var delta = root.GetProperty("delta");
                    switch (Str(delta, "type"))
                    {
                        case "text_delta":
                            events.Add(new ProviderTextDelta(Str(delta, "text") ?? ""));
                            break;
                        case "input_json_delta" when state.ToolIndexByBlock.TryGetValue(index, out var toolIndex):
                            events.Add(new ProviderToolCallDelta(toolIndex, null, null, Str(delta, "partial_json") ?? ""));
                            break;
                        default:
                            break; // thinking_delta, signature_delta, citations: only text deltas become text
                    }

                    break;
                }

                case "message_delta":
                    if (root.TryGetProperty("delta", out var md) && Str(md, "stop_reason") is { } stop)
                    {
                        state.Finish = NormalizeStop(stop);
                    }

                    if (root.TryGetProperty("usage", out var deltaUsage))
                    {
                        state.Usage = ParseUsage(deltaUsage, state.Usage);
                    }

                    break;
                case "message_stop":
                    state.Stopped = true;
                    break;
                case "error":
                {
                    var error = root.TryGetProperty("error", out var e) ? e : root;
                    throw ProviderHttp.FromStatus(name, ProviderHttp.StatusOfErrorType(Str(error, "type")), ev.Data, null, apiKey);
                }

                default:
                    break; // content_block_stop and event types added later carry nothing we need
            }
        }

        return events;
    }

    /// <summary>
    /// Anthropic's <c>input_tokens</c> excludes cache reads and writes; ours includes them. <c>message_delta</c> usage is
    /// cumulative and may omit the input fields, so fields it lacks keep their <c>message_start</c> values.
    /// </summary>
    internal static Usage ParseUsage(JsonElement u, Usage? previous)
    {
        int? Field(string property) => u.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;

        var prevUncached = previous is null ? 0 : previous.InputTokens - previous.CachedInputTokens - previous.CacheWriteTokens - previous.CacheWrite1hTokens;
        var uncached = Field("input_tokens") ?? prevUncached;
        var read = Field("cache_read_input_tokens") ?? previous?.CachedInputTokens ?? 0;
        var output = Field("output_tokens") ?? previous?.OutputTokens ?? 0;
        int write5m, write1h;
        if (u.TryGetProperty("cache_creation", out var creation) && creation.ValueKind == JsonValueKind.Object)
        {
            write5m = creation.TryGetProperty("ephemeral_5m_input_tokens", out var a) && a.ValueKind == JsonValueKind.Number ? a.GetInt32() : 0;
            write1h = creation.TryGetProperty("ephemeral_1h_input_tokens", out var b) && b.ValueKind == JsonValueKind.Number ? b.GetInt32() : 0;
        }
        else if (Field("cache_creation_input_tokens") is { } created)
        {
            // Without the TTL split every write is a 5-minute write (the default TTL, and the only one we request).
            write5m = created;
            write1h = 0;
        }
        else
        {
            write5m = previous?.CacheWriteTokens ?? 0;
            write1h = previous?.CacheWrite1hTokens ?? 0;
        }

        return new Usage(uncached + read + write5m + write1h, output, CachedInputTokens: read, CacheWriteTokens: write5m, CacheWrite1hTokens: write1h);
    }

    internal static string NormalizeStop(string? stop) => stop switch
    {
        "max_tokens" or "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop", // end_turn, stop_sequence, pause_turn
    };

    /// <summary>Documented minimum cacheable prompt lengths (Anthropic prompt-caching docs, read 2026-11-22).</summary>
    internal static int MinimumCacheableTokens(string model)
    {
        if (model.StartsWith("claude-opus-4-5", StringComparison.OrdinalIgnoreCase)
            || model.StartsWith("claude-opus-4-6", StringComparison.OrdinalIgnoreCase)
            || model.StartsWith("claude-haiku-4-5", StringComparison.OrdinalIgnoreCase))
        {
            return 4096;
        }

        if (model.StartsWith("claude-3-5-haiku", StringComparison.OrdinalIgnoreCase) || model.StartsWith("claude-3-haiku", StringComparison.OrdinalIgnoreCase)
            || model.StartsWith("claude-haiku-3", StringComparison.OrdinalIgnoreCase))
        {
            return 2048;
        }

        return 1024;
    }

    private HttpRequestMessage Build(ProviderChatRequest request, Uri baseUrl, string? apiKey, bool stream)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            WriteBody(w, request, stream, options.PromptCacheMinTokens ?? MinimumCacheableTokens(request.Model), tokens);
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

    internal static void WriteBody(Utf8JsonWriter w, ProviderChatRequest request, bool stream, int cacheMinTokens, TokenCounter tokens)
    {
        var r = request.Request;
        var system = r.Messages.Where(m => m.Role == "system" && !string.IsNullOrEmpty(m.Content)).Select(m => m.Content!).ToList();
        if (r.ResponseFormat is { Type: "json_schema" or "json_object" } format)
        {
            // REVIEW: Anthropic's native structured outputs are a beta header away; until we adopt them, the schema is
            // an instruction in the system prompt (the answer is still plain text the caller parses).
            system.Add(format.Schema is { } schema
                ? $"Respond with only a JSON object that matches this JSON schema, with no other text:\n{schema.GetRawText()}"
                : "Respond with only a JSON object, with no other text.");
        }

        var tools = r.Tools ?? [];
        var toolChoice = ToolChoice(r.ToolChoice);
        // With tool_choice none the tools are still sent (as tool_choice {"type":"none"}): Anthropic rejects a
        // conversation holding tool_use / tool_result blocks when no tools are defined.
        var sendTools = tools.Count > 0;

        // The static prefix is tools then system (Anthropic's cache order). One breakpoint at its end caches both.
        var prefixTokens = system.Sum(tokens.Count) + (sendTools ? tools.Sum(t => tokens.Count(t.Name) + tokens.Count(t.Description)
            + (t.Parameters is { } p ? tokens.Count(p.GetRawText()) : 0)) : 0);
        var cachePrefix = prefixTokens >= cacheMinTokens;

        w.WriteStartObject();
        w.WriteString("model", request.Model);
        w.WriteNumber("max_tokens", request.MaxTokens);
        if (system.Count > 0)
        {
            w.WriteStartArray("system");
            for (var i = 0; i < system.Count; i++)
            {
                w.WriteStartObject();
                w.WriteString("type", "text");
                w.WriteString("text", system[i]);
                if (cachePrefix && i == system.Count - 1)
                {
                    WriteCacheControl(w);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        WriteMessages(w, r.Messages);
        if (r.Temperature is { } temperature)
        {
            // Anthropic's range is 0–1; OpenAI-style callers may send up to 2.
            w.WriteNumber("temperature", Math.Clamp(temperature, 0, 1));
        }

        if (r.TopP is { } topP)
        {
            w.WriteNumber("top_p", topP);
        }

        if (r.Stop is { Count: > 0 })
        {
            w.WriteStartArray("stop_sequences");
            foreach (var s in r.Stop)
            {
                w.WriteStringValue(s);
            }

            w.WriteEndArray();
        }

        if (sendTools)
        {
            w.WriteStartArray("tools");
            for (var i = 0; i < tools.Count; i++)
            {
                var tool = tools[i];
                w.WriteStartObject();
                w.WriteString("name", tool.Name);
                if (tool.Description is not null)
                {
                    w.WriteString("description", tool.Description);
                }

                w.WritePropertyName("input_schema");
                if (tool.Parameters is { } parameters)
                {
                    parameters.WriteTo(w);
                }
                else
                {
                    w.WriteStartObject();
                    w.WriteString("type", "object");
                    w.WriteEndObject();
                }

                if (cachePrefix && system.Count == 0 && i == tools.Count - 1)
                {
                    WriteCacheControl(w);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            // parallel_tool_calls: false is Anthropic's disable_parallel_tool_use, which lives on tool_choice (not on none).
            var (type, toolName) = toolChoice;
            var serial = r.ParallelToolCalls == false && type != "none";
            if (type is not null || serial)
            {
                w.WriteStartObject("tool_choice");
                w.WriteString("type", type ?? "auto");
                if (toolName is not null)
                {
                    w.WriteString("name", toolName);
                }

                if (serial)
                {
                    w.WriteBoolean("disable_parallel_tool_use", true);
                }

                w.WriteEndObject();
            }
        }

        if (stream)
        {
            w.WriteBoolean("stream", true);
        }

        w.WriteEndObject();
    }

    private static void WriteCacheControl(Utf8JsonWriter w)
    {
        w.WriteStartObject("cache_control");
        w.WriteString("type", "ephemeral");
        w.WriteEndObject();
    }

    /// <summary>OpenAI's tool_choice → Anthropic's: auto → auto, required → any, a named function → tool, none → none.</summary>
    private static (string? Type, string? Name) ToolChoice(JsonElement? choice)
    {
        if (choice is not { } c)
        {
            return (null, null);
        }

        if (c.ValueKind == JsonValueKind.String)
        {
            return c.GetString() switch
            {
                "none" => ("none", null),
                "required" or "any" => ("any", null),
                _ => ("auto", null),
            };
        }

        if (c.ValueKind == JsonValueKind.Object && c.TryGetProperty("function", out var f) && Str(f, "name") is { } fn)
        {
            return ("tool", fn);
        }

        return (null, null);
    }

    /// <summary>
    /// Messages alternate user/assistant on Anthropic: tool results become user <c>tool_result</c> blocks, and
    /// consecutive messages of the same role are merged into one message with several blocks.
    /// </summary>
    private static void WriteMessages(Utf8JsonWriter w, IReadOnlyList<ChatMessage> messages)
    {
        w.WriteStartArray("messages");
        string? openRole = null;
        foreach (var m in messages)
        {
            if (m.Role == "system")
            {
                continue;
            }

            var role = m.Role == "assistant" ? "assistant" : "user";
            if (role != openRole)
            {
                if (openRole is not null)
                {
                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteStartObject();
                w.WriteString("role", role);
                w.WriteStartArray("content");
                openRole = role;
            }

            if (m.Role == "tool")
            {
                w.WriteStartObject();
                w.WriteString("type", "tool_result");
                w.WriteString("tool_use_id", m.ToolCallId ?? "");
                w.WriteString("content", m.Content ?? "");
                w.WriteEndObject();
                continue;
            }

            if (!string.IsNullOrEmpty(m.Content))
            {
                w.WriteStartObject();
                w.WriteString("type", "text");
                w.WriteString("text", m.Content);
                w.WriteEndObject();
            }

            foreach (var call in m.ToolCalls ?? [])
            {
                w.WriteStartObject();
                w.WriteString("type", "tool_use");
                w.WriteString("id", call.Id);
                w.WriteString("name", call.Name);
                w.WritePropertyName("input");
                try
                {
                    using var args = JsonDocument.Parse(string.IsNullOrWhiteSpace(call.ArgumentsJson) ? "{}" : call.ArgumentsJson);
                    args.RootElement.WriteTo(w);
                }
                catch (JsonException)
                {
                    // A model wrote invalid arguments earlier in the conversation: keep the turn, send no arguments.
                    w.WriteStartObject();
                    w.WriteEndObject();
                }

                w.WriteEndObject();
            }
        }

        if (openRole is not null)
        {
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static string? Str(JsonElement e, string property)
        => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
