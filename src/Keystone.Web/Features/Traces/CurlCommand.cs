using System.Text.Json;
using System.Text.Json.Nodes;

namespace Keystone.Web.Features.Traces;

/// <summary>"Copy as curl": the recorded (redacted) request as an OpenAI-shaped call to this gateway, key as a placeholder.</summary>
internal static class CurlCommand
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

        // Only what the original request set: an option left out keeps the provider's default on the replayed call too.
        SetIfPresent(body, "temperature", p.Temperature);
        SetIfPresent(body, "top_p", p.TopP);
        SetIfPresent(body, "max_tokens", p.MaxTokens);
        SetIfPresent(body, "seed", p.Seed);
        SetIfPresent(body, "frequency_penalty", p.Sampling?.FrequencyPenalty);
        SetIfPresent(body, "presence_penalty", p.Sampling?.PresencePenalty);
        SetIfPresent(body, "reasoning_effort", p.Sampling?.ReasoningEffort);
        SetIfPresent(body, "parallel_tool_calls", p.Sampling?.ParallelToolCalls);

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

    private static void SetIfPresent(JsonObject body, string name, JsonNode? value)
    {
        if (value is not null)
        {
            body[name] = value;
        }
    }
}
