using System.Text.Json;
using System.Text.Json.Nodes;

namespace Keystone.Web.Features.Traces;

/// <summary>"Copy as curl": the recorded (redacted) request as an OpenAI-shaped call to this gateway, key as a placeholder.</summary>
public static class CurlCommand
{
    // Relaxed escaping keeps the text readable in a terminal; the body goes inside single quotes, escaped below.
    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string For(TraceDetail trace, string baseUri)
    {
        var p = trace.Payload;
        var body = new JsonObject { ["model"] = trace.Call.Alias };
        var messages = new JsonArray();
        foreach (var m in p.Messages)
        {
            var message = new JsonObject { ["role"] = m.Role, ["content"] = m.Content };
            if (m.ToolCalls.Count > 0)
            {
                message["tool_calls"] = new JsonArray(m.ToolCalls.Select(t => (JsonNode)new JsonObject
                {
                    ["id"] = t.Id,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = t.Name, ["arguments"] = t.Arguments },
                }).ToArray());
            }

            if (m.ToolCallId is not null)
            {
                message["tool_call_id"] = m.ToolCallId;
            }

            if (m.Name is not null)
            {
                message["name"] = m.Name;
            }

            messages.Add(message);
        }

        body["messages"] = messages;
        if (p.Tools.Count > 0)
        {
            body["tools"] = new JsonArray(p.Tools.Select(t => (JsonNode)new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject
                {
                    ["name"] = t.Name,
                    ["description"] = t.Description,
                    ["parameters"] = t.ParametersJson is null ? null : JsonNode.Parse(t.ParametersJson),
                },
            }).ToArray());
        }

        if (p.Temperature is { } temperature)
        {
            body["temperature"] = temperature;
        }

        if (p.TopP is { } topP)
        {
            body["top_p"] = topP;
        }

        if (p.MaxTokens is { } maxTokens)
        {
            body["max_tokens"] = maxTokens;
        }

        if (p.Seed is { } seed)
        {
            body["seed"] = seed;
        }

        if (p.Sampling is { } sampling)
        {
            if (sampling.FrequencyPenalty is { } frequency)
            {
                body["frequency_penalty"] = frequency;
            }

            if (sampling.PresencePenalty is { } presence)
            {
                body["presence_penalty"] = presence;
            }

            if (sampling.ReasoningEffort is { } effort)
            {
                body["reasoning_effort"] = effort;
            }

            if (sampling.ParallelToolCalls is { } parallel)
            {
                body["parallel_tool_calls"] = parallel;
            }
        }

        if (p.Stop.Count > 0)
        {
            body["stop"] = new JsonArray(p.Stop.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray());
        }

        if (trace.Call.EndUser is { } user)
        {
            body["user"] = user;
        }

        var json = body.ToJsonString(Indented);
        var url = baseUri.TrimEnd('/') + "/v1/chat/completions";
        return $"curl {url} \\\n  -H \"Authorization: Bearer $KEYSTONE_API_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n"
            + $"  -H \"X-Keystone-Feature: {trace.Call.Feature}\" \\\n  -d '{json.Replace("'", "'\\''", StringComparison.Ordinal)}'";
    }
}
