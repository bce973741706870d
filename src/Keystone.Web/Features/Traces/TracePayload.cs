using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Keystone.Web.Features.Traces;

/// <summary>A tool call as recorded: arguments pretty-printed when they are JSON.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of TraceDetail, the type of a [Parameter] (TraceReplayPanel.Detail): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TraceToolCall(string? Id, string Name, string Arguments);

/// <summary>One message of the recorded conversation.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of TraceDetail, the type of a [Parameter] (TraceReplayPanel.Detail): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TraceMessage(string Role, string? Content, IReadOnlyList<TraceToolCall> ToolCalls, string? ToolCallId, string? Name);

/// <summary>One provider attempt (the fallback path).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of TraceDetail, the type of a [Parameter] (TraceReplayPanel.Detail): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TraceAttempt(string Provider, string Model, string Outcome, int? StatusCode, string? Error, int DurationMs);

/// <summary>A tool the request offered the model.</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of TraceDetail, the type of a [Parameter] (TraceReplayPanel.Detail): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TraceTool(string Name, string? Description, string? ParametersJson);

/// <summary>The request's other sampling options, when it set any (replayed as they were).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of TraceDetail, the type of a [Parameter] (TraceReplayPanel.Detail): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TraceSampling(double? FrequencyPenalty, double? PresencePenalty, string? ReasoningEffort, bool? ParallelToolCalls)
{
    public bool IsEmpty => FrequencyPenalty is null && PresencePenalty is null && ReasoningEffort is null && ParallelToolCalls is null;
}

/// <summary>
/// The recorded request, answer and attempts, read from the trace's JSON. The reader accepts the gateway's
/// camelCase records and OpenAI's snake_case wire shape alike, so a recorder change of casing does not
/// blank the detail page. <c>PromptVariables</c>: the variables a managed prompt was rendered with, when recorded.
/// </summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of TraceDetail, the type of a [Parameter] (TraceReplayPanel.Detail): Razor components are public and Blazor parameters must be public properties.")]
public sealed record TracePayload(
    IReadOnlyList<TraceMessage> Messages,
    IReadOnlyList<TraceTool> Tools,
    string? Model,
    double? Temperature,
    double? TopP,
    int? MaxTokens,
    int? Seed,
    IReadOnlyList<string> Stop,
    string? ResponseFormatJson,
    string? AnswerText,
    IReadOnlyList<TraceToolCall> AnswerToolCalls,
    string? FinishReason,
    IReadOnlyList<TraceAttempt> Attempts,
    string? RequestJsonPretty,
    string? ResponseJsonPretty,
    IReadOnlyDictionary<string, string>? PromptVariables = null,
    TraceSampling? Sampling = null)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Parses what is there; a payload that is not JSON shows as text rather than failing the page.</summary>
    public static TracePayload Parse(string? requestJson, string? responseJson, string? attemptsJson)
    {
        var request = TryParse(requestJson);
        var response = TryParse(responseJson);
        var attempts = TryParse(attemptsJson);

        var messages = new List<TraceMessage>();
        var tools = new List<TraceTool>();
        string? model = null;
        double? temperature = null, topP = null;
        int? maxTokens = null, seed = null;
        var stop = new List<string>();
        string? responseFormat = null;
        Dictionary<string, string>? variables = null;
        TraceSampling? sampling = null;
        if (request is { ValueKind: JsonValueKind.Object } r)
        {
            // A call rendered from a managed prompt records its (redacted) variables: a replay renders them on another version.
            if (Prop(r, "promptVariables", "prompt_variables") is { ValueKind: JsonValueKind.Object } vs)
            {
                variables = vs.EnumerateObject().Where(v => v.Value.ValueKind == JsonValueKind.String)
                    .ToDictionary(v => v.Name, v => v.Value.GetString()!, StringComparer.Ordinal);
            }

            if (Prop(r, "messages") is { ValueKind: JsonValueKind.Array } ms)
            {
                messages.AddRange(ms.EnumerateArray().Where(m => m.ValueKind == JsonValueKind.Object).Select(ReadMessage));
            }

            if (Prop(r, "tools") is { ValueKind: JsonValueKind.Array } ts)
            {
                tools.AddRange(ts.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.Object).Select(ReadTool));
            }

            model = Str(r, "model");
            temperature = Num(r, "temperature");
            topP = Num(r, "topP", "top_p");
            maxTokens = (int?)Num(r, "maxTokens", "max_tokens", "max_completion_tokens");
            seed = (int?)Num(r, "seed");
            sampling = new TraceSampling(Num(r, "frequencyPenalty", "frequency_penalty"), Num(r, "presencePenalty", "presence_penalty"),
                Str(r, "reasoningEffort", "reasoning_effort"), Bool(r, "parallelToolCalls", "parallel_tool_calls"));
            sampling = sampling.IsEmpty ? null : sampling;
            if (Prop(r, "stop") is { } s)
            {
                if (s.ValueKind == JsonValueKind.String)
                {
                    stop.Add(s.GetString()!);
                }
                else if (s.ValueKind == JsonValueKind.Array)
                {
                    stop.AddRange(s.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!));
                }
            }

            if (Prop(r, "responseFormat", "response_format") is { ValueKind: JsonValueKind.Object } rf)
            {
                responseFormat = Pretty(rf);
            }
        }

        string? answer = null;
        string? finish = null;
        var answerTools = new List<TraceToolCall>();
        if (response is { ValueKind: JsonValueKind.Object } a)
        {
            // OpenAI wire shape: choices[0].message; the gateway's own shape: text / toolCalls at the top.
            var message = Prop(a, "choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0
                ? choices[0]
                : (JsonElement?)null;
            var body = message is { } choice && Prop(choice, "message") is { ValueKind: JsonValueKind.Object } m ? m : a;
            answer = Str(body, "text", "content");
            answerTools.AddRange(ReadToolCalls(body));
            finish = Str(a, "finishReason", "finish_reason") ?? (message is { } c ? Str(c, "finish_reason", "finishReason") : null);
        }
        else if (response is { ValueKind: JsonValueKind.String } text)
        {
            answer = text.GetString();
        }
        else if (response is null && !string.IsNullOrWhiteSpace(responseJson))
        {
            answer = responseJson;
        }

        var attemptList = new List<TraceAttempt>();
        if (attempts is { ValueKind: JsonValueKind.Array } list)
        {
            attemptList.AddRange(list.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Object).Select(x => new TraceAttempt(
                Str(x, "provider") ?? "?", Str(x, "model") ?? "?", Str(x, "outcome") ?? "?",
                (int?)Num(x, "statusCode", "status_code", "status"), Str(x, "error"), (int?)Num(x, "durationMs", "duration_ms") ?? 0)));
        }

        return new TracePayload(messages, tools, model, temperature, topP, maxTokens, seed, stop, responseFormat,
            answer, answerTools, finish, attemptList,
            request is { } rq ? Pretty(rq) : requestJson, response is { } rs ? Pretty(rs) : responseJson, variables, sampling);
    }

    /// <summary>Pretty-prints <paramref name="text"/> when it is JSON; returns it unchanged otherwise.</summary>
    public static string PrettyIfJson(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return text ?? "";
        }

        var trimmed = text.TrimStart();
        if (trimmed.Length == 0 || (trimmed[0] != '{' && trimmed[0] != '['))
        {
            return text;
        }

        return TryParse(text) is { } e ? Pretty(e) : text;
    }

    private static TraceMessage ReadMessage(JsonElement m)
    {
        string? content;
        var c = Prop(m, "content");
        if (c is { ValueKind: JsonValueKind.Array } parts)
        {
            // Content parts (OpenAI / Anthropic): keep the text parts in order.
            content = string.Join("\n", parts.EnumerateArray()
                .Select(p => p.ValueKind == JsonValueKind.Object ? Str(p, "text") : p.ValueKind == JsonValueKind.String ? p.GetString() : null)
                .Where(t => t is not null));
        }
        else
        {
            content = c is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;
        }

        return new TraceMessage(Str(m, "role") ?? "user", content, ReadToolCalls(m).ToList(), Str(m, "toolCallId", "tool_call_id"), Str(m, "name"));
    }

    private static IEnumerable<TraceToolCall> ReadToolCalls(JsonElement owner)
    {
        if (Prop(owner, "toolCalls", "tool_calls") is not { ValueKind: JsonValueKind.Array } calls)
        {
            yield break;
        }

        foreach (var call in calls.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Object))
        {
            var function = Prop(call, "function") is { ValueKind: JsonValueKind.Object } f ? f : call;
            var args = Str(function, "argumentsJson", "arguments") ?? (Prop(function, "arguments") is { } o ? o.GetRawText() : "");
            yield return new TraceToolCall(Str(call, "id"), Str(function, "name") ?? "?", PrettyIfJson(args));
        }
    }

    private static TraceTool ReadTool(JsonElement t)
    {
        var function = Prop(t, "function") is { ValueKind: JsonValueKind.Object } f ? f : t;
        var parameters = Prop(function, "parameters") is { ValueKind: JsonValueKind.Object } p ? p.GetRawText() : null;
        return new TraceTool(Str(function, "name") ?? "?", Str(function, "description"), parameters);
    }

    /// <summary>A stored JSON text as a detached element; null when it is empty or not JSON (the trace shows it raw).</summary>
    internal static JsonElement? TryParse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Pretty(JsonElement e) => JsonNode.Parse(e.GetRawText())?.ToJsonString(Indented) ?? e.GetRawText();

    internal static JsonElement? Prop(JsonElement e, params string[] names)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var name in names)
        {
            foreach (var p in e.EnumerateObject())
            {
                if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind != JsonValueKind.Null)
                {
                    return p.Value;
                }
            }
        }

        return null;
    }

    private static string? Str(JsonElement e, params string[] names) => Prop(e, names) is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;

    private static double? Num(JsonElement e, params string[] names) => Prop(e, names) is { ValueKind: JsonValueKind.Number } n ? n.GetDouble() : null;

    private static bool? Bool(JsonElement e, params string[] names) => Prop(e, names) switch
    {
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => null,
    };
}
