using System.Text.Json;

namespace Keystone.Gateway.Providers.OpenAi;

/// <summary>
/// Reads OpenAI Chat Completions and Embeddings responses and stream chunks: answers, tool calls, usage (cached prompt
/// and reasoning tokens included) and finish reasons normalized across compatible servers.
/// </summary>
internal static class OpenAiResponseReader
{
    public static ProviderChatResponse ParseChat(ReadOnlySpan<byte> json)
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
    public static Usage ParseUsage(JsonElement u)
    {
        var input = IntOrZero(u, "prompt_tokens");
        var output = IntOrZero(u, "completion_tokens");
        var cached = u.TryGetProperty("prompt_tokens_details", out var pd) && pd.ValueKind == JsonValueKind.Object ? IntOrZero(pd, "cached_tokens") : 0;
        var reasoning = u.TryGetProperty("completion_tokens_details", out var cd) && cd.ValueKind == JsonValueKind.Object ? IntOrZero(cd, "reasoning_tokens") : 0;
        return new Usage(input, output, CachedInputTokens: cached, ReasoningTokens: reasoning);
    }

    /// <summary>The vectors of an embeddings list, in input order.</summary>
    public static ProviderEmbeddingResponse ParseEmbeddings(byte[] body, int inputCount)
    {
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        var vectors = new float[inputCount][];
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

    public readonly record struct Chunk(List<ProviderStreamEvent> Events, string? Finish, Usage? Usage);

    /// <summary>One stream chunk's deltas (into <paramref name="events"/>, cleared first), finish reason and usage.</summary>
    public static Chunk ParseChunk(string name, string data, string? apiKey, List<ProviderStreamEvent> events)
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
    public static string? NormalizeFinish(string? finish) => finish switch
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
