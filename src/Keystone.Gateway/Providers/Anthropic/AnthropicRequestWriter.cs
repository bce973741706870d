using System.Text.Json;
using Keystone.Gateway.Tokenization;

namespace Keystone.Gateway.Providers.Anthropic;

/// <summary>
/// The Anthropic Messages request body: system messages become the top-level <c>system</c> blocks, tool messages become
/// <c>tool_result</c> blocks, OpenAI-style tools and tool choice are translated, and a <c>cache_control</c> breakpoint is
/// put on the static prefix (tools, then system) when that prefix is at least the model's minimum cacheable length.
/// </summary>
internal static class AnthropicRequestWriter
{
    /// <summary>Documented minimum cacheable prompt lengths (Anthropic prompt-caching docs, read 2026-11-22).</summary>
    public static int MinimumCacheableTokens(string model)
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

    public static void WriteBody(Utf8JsonWriter w, ProviderChatRequest request, bool stream, int cacheMinTokens, TokenCounter tokens)
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
