using System.Text.Json;
using Microsoft.AspNetCore.Builder;

namespace Keystone.Testing.Upstreams;

/// <summary>
/// A loopback Anthropic Messages API: base URL <c>http://127.0.0.1:port/v1/</c>. Unscripted requests get a valid
/// message, or the documented event sequence (<c>message_start</c>, <c>content_block_start</c>, <c>ping</c>,
/// <c>content_block_delta</c>…, <c>content_block_stop</c>, <c>message_delta</c>, <c>message_stop</c>).
/// </summary>
public sealed class MockAnthropicServer : MockUpstreamServer
{
    private MockAnthropicServer(WebApplication app) : base(app, "/v1/")
    {
        DefaultReply = request =>
        {
            var json = request.Json;
            var model = json.TryGetProperty("model", out var m) ? m.GetString() ?? "claude-sonnet-4-5" : "claude-sonnet-4-5";
            var stream = json.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
            return stream
                ? MockReply.Sse(StreamEvents(model, ["Hello", " from", " the", " mock."], inputTokens: 12, outputTokens: 4))
                : MockReply.Json(200, Message(model, "Hello from the mock.", inputTokens: 12, outputTokens: 5));
        };
    }

    public static Task<MockAnthropicServer> StartAsync() => StartAsync(app => new MockAnthropicServer(app));

    /// <summary>A <c>message</c> body. <paramref name="inputTokens"/> excludes cache reads and writes, as Anthropic reports it.</summary>
    public static string Message(string model, string? text, int inputTokens, int outputTokens, int cacheReadTokens = 0, int cacheWriteTokens = 0,
        string stopReason = "end_turn", IReadOnlyList<(string Id, string Name, string InputJson)>? toolUses = null)
    {
        var content = new List<object>();
        if (text is not null)
        {
            content.Add(new { type = "text", text });
        }

        foreach (var t in toolUses ?? [])
        {
            content.Add(new { type = "tool_use", id = t.Id, name = t.Name, input = JsonDocument.Parse(t.InputJson).RootElement });
        }

        return JsonSerializer.Serialize(new
        {
            id = "msg_mock",
            type = "message",
            role = "assistant",
            model,
            content,
            stop_reason = stopReason,
            stop_sequence = (string?)null,
            usage = Usage(inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens),
        });
    }

    /// <summary>The documented streaming sequence for a text answer; <c>message_delta</c> carries the final output tokens.</summary>
    public static IReadOnlyList<string> StreamEvents(string model, IReadOnlyList<string> pieces, int inputTokens, int outputTokens,
        int cacheReadTokens = 0, int cacheWriteTokens = 0, string stopReason = "end_turn")
    {
        var events = new List<string>
        {
            Event("message_start", new
            {
                type = "message_start",
                message = new
                {
                    id = "msg_mock", type = "message", role = "assistant", model, content = Array.Empty<object>(),
                    stop_reason = (string?)null, stop_sequence = (string?)null,
                    usage = Usage(inputTokens, 1, cacheReadTokens, cacheWriteTokens),
                },
            }),
            Event("content_block_start", new { type = "content_block_start", index = 0, content_block = new { type = "text", text = "" } }),
            Event("ping", new { type = "ping" }),
        };
        events.AddRange(pieces.Select(p => Event("content_block_delta", new { type = "content_block_delta", index = 0, delta = new { type = "text_delta", text = p } })));
        events.Add(Event("content_block_stop", new { type = "content_block_stop", index = 0 }));
        events.Add(Event("message_delta", new { type = "message_delta", delta = new { stop_reason = stopReason, stop_sequence = (string?)null }, usage = new { output_tokens = outputTokens } }));
        events.Add(Event("message_stop", new { type = "message_stop" }));
        return events;
    }

    /// <summary>A streamed tool use: text block, then a tool_use block whose input arrives as <c>input_json_delta</c> pieces.</summary>
    public static IReadOnlyList<string> ToolUseStreamEvents(string model, string text, string id, string name, IReadOnlyList<string> jsonPieces,
        int inputTokens, int outputTokens)
    {
        return
        [
            Event("message_start", new { type = "message_start", message = new { id = "msg_mock", type = "message", role = "assistant", model, content = Array.Empty<object>(), usage = Usage(inputTokens, 1, 0, 0) } }),
            Event("content_block_start", new { type = "content_block_start", index = 0, content_block = new { type = "text", text = "" } }),
            Event("content_block_delta", new { type = "content_block_delta", index = 0, delta = new { type = "text_delta", text } }),
            Event("content_block_stop", new { type = "content_block_stop", index = 0 }),
            Event("content_block_start", new { type = "content_block_start", index = 1, content_block = new { type = "tool_use", id, name, input = new { } } }),
            .. jsonPieces.Select(p => Event("content_block_delta", new { type = "content_block_delta", index = 1, delta = new { type = "input_json_delta", partial_json = p } })),
            Event("content_block_stop", new { type = "content_block_stop", index = 1 }),
            Event("message_delta", new { type = "message_delta", delta = new { stop_reason = "tool_use", stop_sequence = (string?)null }, usage = new { output_tokens = outputTokens } }),
            Event("message_stop", new { type = "message_stop" }),
        ];
    }

    /// <summary>An <c>error</c> event (e.g. <c>overloaded_error</c>) as sent mid-stream.</summary>
    public static string ErrorEvent(string type, string message) => Event("error", new { type = "error", error = new { type, message } });

    /// <summary>Anthropic's error body.</summary>
    public static string Error(string type, string message) => JsonSerializer.Serialize(new { type = "error", error = new { type, message } });

    private static object Usage(int input, int output, int cacheRead, int cacheWrite) => new
    {
        input_tokens = input,
        cache_creation_input_tokens = cacheWrite,
        cache_read_input_tokens = cacheRead,
        cache_creation = new { ephemeral_5m_input_tokens = cacheWrite, ephemeral_1h_input_tokens = 0 },
        output_tokens = output,
        service_tier = "standard",
    };

    private static string Event(string name, object data) => $"event: {name}\ndata: {JsonSerializer.Serialize(data)}";
}
