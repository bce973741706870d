using System.Text.Json;

namespace Keystone.Gateway.Providers.OpenAi;

/// <summary>OpenAI Chat Completions and Embeddings request bodies (also what every OpenAI-compatible server reads).</summary>
internal static class OpenAiRequestWriter
{
    /// <summary>
    /// The body goes to a JSON API, never into HTML: only what JSON itself requires is escaped (quotes, backslash, control
    /// characters). The default encoder also escapes apostrophes, <c>&lt;</c>, <c>&gt;</c>, <c>&amp;</c>, <c>+</c> and every
    /// non-ASCII character, which sent a prompt with a single apostrophe down the writer's slow per-character path (issue
    /// 26: the largest JSON cost of the request path) and made the body longer. The JSON value is the same either way.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void WriteChatBody(Utf8JsonWriter w, ProviderChatRequest request, bool stream, string maxTokensParameter)
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

    public static void WriteEmbeddingsBody(Utf8JsonWriter w, string model, IReadOnlyList<string> inputs, int? dimensions)
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
}
