using System.Text.Json;
using Microsoft.AspNetCore.Builder;

namespace Keystone.Testing.Upstreams;

/// <summary>
/// A loopback OpenAI: base URL <c>http://127.0.0.1:port/v1/</c>. Unscripted requests get a valid answer in the
/// documented shape (a chat completion, an SSE stream ending in a usage chunk and <c>[DONE]</c>, or embeddings).
/// </summary>
public sealed class MockOpenAiServer : MockUpstreamServer
{
    private MockOpenAiServer(WebApplication app) : base(app, "/v1/")
    {
        DefaultReply = request =>
        {
            var json = request.Json;
            var model = json.TryGetProperty("model", out var m) ? m.GetString() ?? "gpt-4o-mini" : "gpt-4o-mini";
            if (request.Path.EndsWith("/embeddings", StringComparison.Ordinal))
            {
                var count = json.GetProperty("input").GetArrayLength();
                return MockReply.Json(200, Embeddings(model, Enumerable.Range(0, count).Select(i => new[] { 0.1f * (i + 1), 0.2f, 0.3f }).ToList(), 5 * count));
            }

            var stream = json.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
            return stream
                ? MockReply.Sse(StreamEvents(model, ["Hello", " from", " the", " mock."], promptTokens: 12, completionTokens: 4))
                : MockReply.Json(200, ChatCompletion(model, "Hello from the mock.", promptTokens: 12, completionTokens: 5));
        };
    }

    public static Task<MockOpenAiServer> StartAsync() => StartAsync(app => new MockOpenAiServer(app));

    /// <summary>A <c>chat.completion</c> body, usage with <c>prompt_tokens_details.cached_tokens</c> and <c>completion_tokens_details.reasoning_tokens</c>.</summary>
    public static string ChatCompletion(string model, string? text, int promptTokens, int completionTokens, int cachedTokens = 0,
        int reasoningTokens = 0, string finishReason = "stop", IReadOnlyList<(string Id, string Name, string Arguments)>? toolCalls = null)
    {
        var message = new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = text, ["refusal"] = null };
        if (toolCalls is { Count: > 0 })
        {
            message["tool_calls"] = toolCalls.Select(c => new { id = c.Id, type = "function", function = new { name = c.Name, arguments = c.Arguments } }).ToList();
        }

        return JsonSerializer.Serialize(new
        {
            id = "chatcmpl-mock",
            @object = "chat.completion",
            created = 1_763_000_000,
            model,
            choices = new[] { new { index = 0, message, logprobs = (object?)null, finish_reason = finishReason } },
            usage = Usage(promptTokens, completionTokens, cachedTokens, reasoningTokens),
            service_tier = "default",
            system_fingerprint = "fp_mock",
        });
    }

    /// <summary>
    /// <c>chat.completion.chunk</c> events: a role chunk, one content chunk per piece, a finish chunk, the usage chunk
    /// (empty <c>choices</c>, as with <c>stream_options.include_usage</c>) and <c>data: [DONE]</c>.
    /// </summary>
    public static IReadOnlyList<string> StreamEvents(string model, IReadOnlyList<string> pieces, int promptTokens, int completionTokens,
        int cachedTokens = 0, int reasoningTokens = 0, string finishReason = "stop", bool includeUsage = true)
    {
        var events = new List<string> { Chunk(model, new { role = "assistant", content = "" }, null) };
        events.AddRange(pieces.Select(p => Chunk(model, new { content = p }, null)));
        events.Add(Chunk(model, new { }, finishReason));
        if (includeUsage)
        {
            events.Add("data: " + JsonSerializer.Serialize(new
            {
                id = "chatcmpl-mock", @object = "chat.completion.chunk", created = 1_763_000_000, model,
                choices = Array.Empty<object>(), usage = Usage(promptTokens, completionTokens, cachedTokens, reasoningTokens),
            }));
        }

        events.Add("data: [DONE]");
        return events;
    }

    /// <summary>Streamed tool-call chunks: the id and name first, then the arguments in pieces.</summary>
    public static IReadOnlyList<string> ToolCallStreamEvents(string model, string id, string name, IReadOnlyList<string> argumentPieces,
        int promptTokens, int completionTokens)
    {
        var events = new List<string>
        {
            Chunk(model, new { role = "assistant", content = (string?)null, tool_calls = new[] { new { index = 0, id, type = "function", function = new { name, arguments = "" } } } }, null),
        };
        events.AddRange(argumentPieces.Select(p => Chunk(model, new { tool_calls = new[] { new { index = 0, function = new { arguments = p } } } }, null)));
        events.Add(Chunk(model, new { }, "tool_calls"));
        events.Add("data: " + JsonSerializer.Serialize(new
        {
            id = "chatcmpl-mock", @object = "chat.completion.chunk", created = 1_763_000_000, model,
            choices = Array.Empty<object>(), usage = Usage(promptTokens, completionTokens, 0, 0),
        }));
        events.Add("data: [DONE]");
        return events;
    }

    /// <summary>An embeddings list body.</summary>
    public static string Embeddings(string model, IReadOnlyList<float[]> vectors, int promptTokens) => JsonSerializer.Serialize(new
    {
        @object = "list",
        data = vectors.Select((v, i) => new { @object = "embedding", index = i, embedding = v }).ToList(),
        model,
        usage = new { prompt_tokens = promptTokens, total_tokens = promptTokens },
    });

    /// <summary>OpenAI's error body.</summary>
    public static string Error(string message, string type = "server_error", string? code = null)
        => JsonSerializer.Serialize(new { error = new { message, type, param = (string?)null, code } });

    private static object Usage(int prompt, int completion, int cached, int reasoning) => new
    {
        prompt_tokens = prompt,
        completion_tokens = completion,
        total_tokens = prompt + completion,
        prompt_tokens_details = new { cached_tokens = cached, audio_tokens = 0 },
        completion_tokens_details = new { reasoning_tokens = reasoning, audio_tokens = 0, accepted_prediction_tokens = 0, rejected_prediction_tokens = 0 },
    };

    private static string Chunk(string model, object delta, string? finishReason) => "data: " + JsonSerializer.Serialize(new
    {
        id = "chatcmpl-mock",
        @object = "chat.completion.chunk",
        created = 1_763_000_000,
        model,
        system_fingerprint = "fp_mock",
        choices = new[] { new { index = 0, delta, logprobs = (object?)null, finish_reason = finishReason } },
    });
}
