using System.Text.Json;

namespace Keystone.Gateway.Providers.Anthropic;

/// <summary>
/// Translates one Anthropic Messages stream's SSE events (<c>message_start</c>, <c>content_block_start</c>,
/// <c>content_block_delta</c>, <c>message_delta</c>, <c>message_stop</c>, <c>ping</c>, <c>error</c>) into provider
/// events, keeping what spans events: usage, the stop reason, and which content blocks are tool calls.
/// </summary>
internal sealed class AnthropicStreamReader(string name, string? apiKey)
{
    /// <summary>Anthropic content block index → our tool-call index (tool_use blocks counted in order).</summary>
    private readonly Dictionary<int, int> _toolIndexByBlock = [];

    /// <summary>Usage so far: <c>message_start</c>'s, updated by each <c>message_delta</c>.</summary>
    public Usage? Usage { get; private set; }

    /// <summary>The normalized stop reason, once <c>message_delta</c> gave one.</summary>
    public string? Finish { get; private set; }

    /// <summary>True once <c>message_stop</c> arrived: the answer is complete.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The events one SSE event carries (none for <c>ping</c>); throws <see cref="ProviderException"/> for an <c>error</c> event.</summary>
    public List<ProviderStreamEvent> Translate(SseEvent ev)
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
            var type = ev.Event ?? AnthropicResponseReader.Str(root, "type");
            switch (type)
            {
                case "message_start":
                    if (root.TryGetProperty("message", out var msg) && msg.TryGetProperty("usage", out var startUsage))
                    {
                        Usage = AnthropicResponseReader.ParseUsage(startUsage, null);
                    }

                    break;
                case "content_block_start":
                {
                    var index = root.GetProperty("index").GetInt32();
                    var block = root.GetProperty("content_block");
                    if (AnthropicResponseReader.Str(block, "type") == "tool_use")
                    {
                        var toolIndex = _toolIndexByBlock.Count;
                        _toolIndexByBlock[index] = toolIndex;
                        events.Add(new ProviderToolCallDelta(toolIndex, AnthropicResponseReader.Str(block, "id"), AnthropicResponseReader.Str(block, "name"), null));
                    }
                    else if (AnthropicResponseReader.Str(block, "type") == "text" && AnthropicResponseReader.Str(block, "text") is { Length: > 0 } initial)
                    {
                        events.Add(new ProviderTextDelta(initial));
                    }

                    break;
                }

                case "content_block_delta":
                {
                    var index = root.GetProperty("index").GetInt32();
                    var delta = root.GetProperty("delta");
                    switch (AnthropicResponseReader.Str(delta, "type"))
                    {
                        case "text_delta":
                            events.Add(new ProviderTextDelta(AnthropicResponseReader.Str(delta, "text") ?? ""));
                            break;
                        case "input_json_delta" when _toolIndexByBlock.TryGetValue(index, out var toolIndex):
                            events.Add(new ProviderToolCallDelta(toolIndex, null, null, AnthropicResponseReader.Str(delta, "partial_json") ?? ""));
                            break;
                        default:
                            break; // thinking_delta, signature_delta, citations: only text deltas become text
                    }

                    break;
                }

                case "message_delta":
                    if (root.TryGetProperty("delta", out var md) && AnthropicResponseReader.Str(md, "stop_reason") is { } stop)
                    {
                        Finish = AnthropicResponseReader.NormalizeStop(stop);
                    }

                    if (root.TryGetProperty("usage", out var deltaUsage))
                    {
                        Usage = AnthropicResponseReader.ParseUsage(deltaUsage, Usage);
                    }

                    break;
                case "message_stop":
                    Stopped = true;
                    break;
                case "error":
                {
                    var error = root.TryGetProperty("error", out var e) ? e : root;
                    throw ProviderHttp.FromStatus(name, ProviderHttp.StatusOfErrorType(AnthropicResponseReader.Str(error, "type")), ev.Data, null, apiKey);
                }

                default:
                    break; // content_block_stop and event types added later carry nothing we need
            }
        }

        return events;
    }
}
