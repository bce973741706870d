using System.Text;
using System.Text.Json;

namespace Keystone.Gateway.Providers.Anthropic;

/// <summary>
/// Reads Anthropic Messages responses: a whole message, usage (Anthropic's <c>input_tokens</c> excludes cache reads and
/// writes, which <see cref="Usage.InputTokens"/> includes) and stop reasons normalized to OpenAI's finish reasons.
/// </summary>
internal static class AnthropicResponseReader
{
    /// <summary>A non-streamed message: its text blocks, its <c>tool_use</c> blocks as tool calls, usage and stop reason.</summary>
    public static ProviderChatResponse ParseMessage(byte[] body)
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

    /// <summary>
    /// Anthropic's <c>input_tokens</c> excludes cache reads and writes; ours includes them. <c>message_delta</c> usage is
    /// cumulative and may omit the input fields, so fields it lacks keep their <c>message_start</c> values.
    /// </summary>
    public static Usage ParseUsage(JsonElement u, Usage? previous)
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

    public static string NormalizeStop(string? stop) => stop switch
    {
        "max_tokens" or "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop", // end_turn, stop_sequence, pause_turn
    };

    public static string? Str(JsonElement e, string property)
        => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
