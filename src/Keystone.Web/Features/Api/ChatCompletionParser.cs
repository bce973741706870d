using System.Text.Json;
using Keystone.Gateway;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Features.Api;

/// <summary>A parsed <c>POST /v1/chat/completions</c> body.</summary>
/// <param name="Request">The gateway request.</param>
/// <param name="Stream">True for <c>stream: true</c>.</param>
/// <param name="IncludeUsage"><c>stream_options.include_usage</c>.</param>
/// <param name="User">The body's <c>user</c> (the tenant's end user).</param>
internal sealed record ParsedChatRequest(ChatRequest Request, bool Stream, bool IncludeUsage, string? User);

/// <summary>
/// Reads OpenAI's Chat Completions request body by hand, so that every malformed field is answered with a
/// 400 naming it (<c>messages[2].role</c>) instead of a generic deserialization failure. Unknown fields are
/// ignored, as OpenAI's SDKs send fields this gateway does not use.
/// </summary>
internal static class ChatCompletionParser
{
    private const int MaxMessages = 10_000;
    private const int MaxTools = 512;
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    /// <summary><c>stream</c> and <c>stream_options.include_usage</c>, shared by every completions route.</summary>
    public static (bool Stream, bool IncludeUsage) ParseStreaming(JsonElement root)
    {
        var stream = JsonFields.OptionalBool(root, "stream") ?? false;
        var includeUsage = false;
        if (root.TryGetProperty("stream_options", out var options) && options.ValueKind != JsonValueKind.Null)
        {
            if (options.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid("stream_options", "stream_options must be an object.");
            }

            includeUsage = JsonFields.OptionalBool(options, "include_usage", "stream_options.include_usage") ?? false;
        }

        return (stream, includeUsage);
    }

    public static ParsedChatRequest Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("body", "The request body must be a JSON object.");
        }

        var model = JsonFields.RequiredString(root, "model", maxLength: 256);
        var messages = ParseMessages(root);
        var temperature = JsonFields.OptionalNumber(root, "temperature", 0, 2);
        var topP = JsonFields.OptionalNumber(root, "top_p", 0, 1);
        var maxTokens = JsonFields.OptionalInt(root, "max_completion_tokens", 1, 10_000_000) ?? JsonFields.OptionalInt(root, "max_tokens", 1, 10_000_000);
        var n = JsonFields.OptionalInt(root, "n", 1, 128);
        if (n is > 1)
        {
            throw ApiException.Invalid("n", "Only n = 1 is supported.");
        }

        var seed = JsonFields.OptionalInt(root, "seed", int.MinValue, int.MaxValue);
        var frequencyPenalty = JsonFields.OptionalNumber(root, "frequency_penalty", -2, 2);
        var presencePenalty = JsonFields.OptionalNumber(root, "presence_penalty", -2, 2);
        var reasoningEffort = JsonFields.OptionalString(root, "reasoning_effort", maxLength: 16);
        if (reasoningEffort is not null && !ReasoningEfforts.All.Contains(reasoningEffort))
        {
            throw ApiException.Invalid("reasoning_effort", $"reasoning_effort must be one of: {string.Join(", ", ReasoningEfforts.All)}.");
        }

        var parallelToolCalls = JsonFields.OptionalBool(root, "parallel_tool_calls");
        RejectUnsupported(root);
        var stop = ParseStop(root);
        var tools = ParseTools(root);
        var toolChoice = ParseToolChoice(root);
        var responseFormat = ParseResponseFormat(root);
        var user = JsonFields.OptionalString(root, "user", maxLength: 256);
        var (stream, includeUsage) = ParseStreaming(root);

        var request = new ChatRequest
        {
            Model = model,
            Messages = messages,
            Temperature = temperature,
            TopP = topP,
            MaxTokens = maxTokens,
            Seed = seed,
            FrequencyPenalty = frequencyPenalty,
            PresencePenalty = presencePenalty,
            ReasoningEffort = reasoningEffort,
            ParallelToolCalls = parallelToolCalls,
            Stop = stop,
            Tools = tools,
            ToolChoice = toolChoice,
            ResponseFormat = responseFormat,
        };
        return new ParsedChatRequest(request, stream, includeUsage, user);
    }

    /// <summary>
    /// Options that would change the answer's shape this gateway does not produce: refused by name rather than
    /// silently dropped (a caller asking for log probabilities must not get an answer without them and not know).
    /// Their "off" values (false, 0, null) pass, as SDKs send them by default.
    /// </summary>
    private static void RejectUnsupported(JsonElement root)
    {
        if (JsonFields.OptionalBool(root, "logprobs") == true)
        {
            throw ApiException.Invalid("logprobs", "logprobs is not supported by this gateway; leave it out or set it to false.");
        }

        if (JsonFields.OptionalInt(root, "top_logprobs", 0, 20) is > 0)
        {
            throw ApiException.Invalid("top_logprobs", "top_logprobs is not supported by this gateway; leave it out or set it to 0.");
        }
    }

    private static List<ChatMessage> ParseMessages(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var array) || array.ValueKind == JsonValueKind.Null)
        {
            throw ApiException.Invalid("messages", "messages is required.");
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.Invalid("messages", "messages must be an array of message objects.");
        }

        var count = array.GetArrayLength();
        if (count is 0 or > MaxMessages)
        {
            throw ApiException.Invalid("messages", $"messages must hold between 1 and {MaxMessages} messages.");
        }

        var result = new List<ChatMessage>(count);
        var i = 0;
        foreach (var m in array.EnumerateArray())
        {
            var path = $"messages[{i}]";
            if (m.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid(path, $"{path} must be an object.");
            }

            var role = JsonFields.RequiredString(m, "role", 32, $"{path}.role");
            if (!Roles.Contains(role))
            {
                throw ApiException.Invalid($"{path}.role", $"{path}.role must be one of system, developer, user, assistant, tool.");
            }

            // A long text many requests send alike (the system prompt) is held once, not once per open stream (issue 26).
            var content = SharedMessageTexts.Share(ParseContent(m, $"{path}.content"));
            var name = JsonFields.OptionalString(m, "name", 256, $"{path}.name");
            IReadOnlyList<ToolCall>? toolCalls = role == "assistant" ? ParseToolCalls(m, path) : null;
            string? toolCallId = null;
            if (role == "tool")
            {
                toolCallId = JsonFields.RequiredString(m, "tool_call_id", 256, $"{path}.tool_call_id");
            }

            if (content is null && toolCalls is not { Count: > 0 })
            {
                throw ApiException.Invalid($"{path}.content", $"{path}.content is required (only an assistant message with tool_calls may omit it).");
            }

            // The gateway's providers know system prompts; OpenAI's newer "developer" role means the same.
            result.Add(new ChatMessage(role == "developer" ? "system" : role, content, toolCalls, toolCallId, name));
            i++;
        }

        return result;
    }

    private static string? ParseContent(JsonElement message, string path)
    {
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString();
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.Invalid(path, $"{path} must be a string or an array of content parts.");
        }

        var text = new System.Text.StringBuilder();
        var j = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = $"{path}[{j}]";
            if (part.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid(partPath, $"{partPath} must be an object.");
            }

            var type = JsonFields.RequiredString(part, "type", 32, $"{partPath}.type");
            if (type != "text")
            {
                throw ApiException.Invalid($"{partPath}.type", $"Only text content parts are supported; {partPath} is '{type}'.");
            }

            text.Append(JsonFields.RequiredString(part, "text", int.MaxValue, $"{partPath}.text", allowEmpty: true));
            j++;
        }

        return text.ToString();
    }

    private static List<ToolCall>? ParseToolCalls(JsonElement message, string path)
    {
        if (!message.TryGetProperty("tool_calls", out var calls) || calls.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (calls.ValueKind != JsonValueKind.Array)
        {
            throw ApiException.Invalid($"{path}.tool_calls", $"{path}.tool_calls must be an array.");
        }

        var result = new List<ToolCall>();
        var k = 0;
        foreach (var call in calls.EnumerateArray())
        {
            var callPath = $"{path}.tool_calls[{k}]";
            if (call.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid(callPath, $"{callPath} must be an object.");
            }

            var id = JsonFields.RequiredString(call, "id", 256, $"{callPath}.id");
            if (!call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid($"{callPath}.function", $"{callPath}.function must be an object.");
            }

            var name = JsonFields.RequiredString(function, "name", 256, $"{callPath}.function.name");
            var arguments = JsonFields.OptionalString(function, "arguments", int.MaxValue, $"{callPath}.function.arguments") ?? "{}";
            result.Add(new ToolCall(id, name, arguments));
            k++;
        }

        return result;
    }

    private static List<string>? ParseStop(JsonElement root)
    {
        if (!root.TryGetProperty("stop", out var stop) || stop.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (stop.ValueKind == JsonValueKind.String)
        {
            return [stop.GetString()!];
        }

        if (stop.ValueKind != JsonValueKind.Array || stop.GetArrayLength() > 4
            || stop.EnumerateArray().Any(s => s.ValueKind != JsonValueKind.String))
        {
            throw ApiException.Invalid("stop", "stop must be a string or an array of up to 4 strings.");
        }

        return stop.EnumerateArray().Select(s => s.GetString()!).ToList();
    }

    private static List<ToolDefinition>? ParseTools(JsonElement root)
    {
        if (!root.TryGetProperty("tools", out var tools) || tools.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (tools.ValueKind != JsonValueKind.Array || tools.GetArrayLength() > MaxTools)
        {
            throw ApiException.Invalid("tools", $"tools must be an array of up to {MaxTools} function tools.");
        }

        var result = new List<ToolDefinition>();
        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var path = $"tools[{i}]";
            if (tool.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid(path, $"{path} must be an object.");
            }

            var type = JsonFields.OptionalString(tool, "type", 32, $"{path}.type") ?? "function";
            if (type != "function")
            {
                throw ApiException.Invalid($"{path}.type", $"Only function tools are supported; {path}.type is '{type}'.");
            }

            if (!tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            {
                throw ApiException.Invalid($"{path}.function", $"{path}.function must be an object.");
            }

            var name = JsonFields.RequiredString(function, "name", 64, $"{path}.function.name");
            var description = JsonFields.OptionalString(function, "description", 100_000, $"{path}.function.description");
            JsonElement? parameters = null;
            if (function.TryGetProperty("parameters", out var p) && p.ValueKind != JsonValueKind.Null)
            {
                if (p.ValueKind != JsonValueKind.Object)
                {
                    throw ApiException.Invalid($"{path}.function.parameters", $"{path}.function.parameters must be a JSON schema object.");
                }

                JsonSchemaShape.Check(p, $"{path}.function.parameters", root: true);
                parameters = p.Clone();
            }

            result.Add(new ToolDefinition(name, description, parameters));
            i++;
        }

        return result;
    }

    private static JsonElement? ParseToolChoice(JsonElement root)
    {
        if (!root.TryGetProperty("tool_choice", out var choice) || choice.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (choice.ValueKind == JsonValueKind.String)
        {
            if (choice.GetString() is not ("none" or "auto" or "required"))
            {
                throw ApiException.Invalid("tool_choice", "tool_choice must be none, auto, required or {\"type\":\"function\",\"function\":{\"name\":…}}.");
            }

            return choice.Clone();
        }

        if (choice.ValueKind != JsonValueKind.Object
            || !choice.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object
            || !f.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String || n.GetString()!.Length == 0)
        {
            throw ApiException.Invalid("tool_choice", "tool_choice must be none, auto, required or {\"type\":\"function\",\"function\":{\"name\":…}}.");
        }

        return choice.Clone();
    }

    private static ResponseFormat? ParseResponseFormat(JsonElement root)
    {
        if (!root.TryGetProperty("response_format", out var format) || format.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (format.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid("response_format", "response_format must be an object.");
        }

        var type = JsonFields.RequiredString(format, "type", 32, "response_format.type");
        switch (type)
        {
            case "text":
            case "json_object":
                return new ResponseFormat(type);
            case "json_schema":
                if (!format.TryGetProperty("json_schema", out var js) || js.ValueKind != JsonValueKind.Object)
                {
                    throw ApiException.Invalid("response_format.json_schema", "response_format.json_schema must be an object with name and schema.");
                }

                var name = JsonFields.RequiredString(js, "name", 64, "response_format.json_schema.name");
                if (!js.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
                {
                    throw ApiException.Invalid("response_format.json_schema.schema", "response_format.json_schema.schema must be a JSON schema object.");
                }

                JsonSchemaShape.Check(schema, "response_format.json_schema.schema", root: false);
                var strict = JsonFields.OptionalBool(js, "strict", "response_format.json_schema.strict") ?? false;
                return new ResponseFormat("json_schema", name, schema.Clone(), strict);
            default:
                throw ApiException.Invalid("response_format.type", "response_format.type must be text, json_object or json_schema.");
        }
    }
}
