using System.Text.Json;

namespace Keystone.Gateway;

/// <summary>One message of a conversation (OpenAI's roles: system, user, assistant, tool).</summary>
/// <param name="Role"><c>system</c>, <c>user</c>, <c>assistant</c> or <c>tool</c>.</param>
/// <param name="Content">Text content (null for an assistant message that only calls tools).</param>
/// <param name="ToolCalls">Tool calls an assistant message made.</param>
/// <param name="ToolCallId">For <c>tool</c> messages: the call this answers.</param>
/// <param name="Name">Optional participant or tool name.</param>
public sealed record ChatMessage(
    string Role,
    string? Content,
    IReadOnlyList<ToolCall>? ToolCalls = null,
    string? ToolCallId = null,
    string? Name = null);

/// <summary>A function call requested by the model.</summary>
/// <param name="Id">Provider call id (echoed back in the tool message).</param>
/// <param name="Name">Function name.</param>
/// <param name="ArgumentsJson">Arguments as a JSON string, as the model wrote them.</param>
public sealed record ToolCall(string Id, string Name, string ArgumentsJson);

/// <summary>A function the model may call.</summary>
/// <param name="Name">Function name.</param>
/// <param name="Description">What it does, for the model.</param>
/// <param name="Parameters">JSON schema of its arguments.</param>
public sealed record ToolDefinition(string Name, string? Description, JsonElement? Parameters);

/// <summary>Requested output format.</summary>
/// <param name="Type"><c>text</c>, <c>json_object</c> or <c>json_schema</c>.</param>
/// <param name="SchemaName">For <c>json_schema</c>: the schema's name.</param>
/// <param name="Schema">For <c>json_schema</c>: the schema.</param>
/// <param name="Strict">For <c>json_schema</c>: strict mode.</param>
public sealed record ResponseFormat(string Type, string? SchemaName = null, JsonElement? Schema = null, bool Strict = false);

/// <summary>
/// A chat completion request in the gateway's provider-neutral shape. <see cref="Model"/> is an alias
/// (<c>smart</c>) or an allowed <c>provider/model</c>; business code uses aliases.
/// </summary>
public sealed record ChatRequest
{
    public required string Model { get; init; }

    public required IReadOnlyList<ChatMessage> Messages { get; init; }

    public double? Temperature { get; init; }

    public double? TopP { get; init; }

    /// <summary>Output token limit; the gateway applies its configured default when null (needed for the budget reservation).</summary>
    public int? MaxTokens { get; init; }

    public IReadOnlyList<string>? Stop { get; init; }

    public int? Seed { get; init; }

    /// <summary>OpenAI's <c>frequency_penalty</c> (−2..2). Anthropic has no equivalent; its adapter leaves it out.</summary>
    public double? FrequencyPenalty { get; init; }

    /// <summary>OpenAI's <c>presence_penalty</c> (−2..2). Anthropic has no equivalent; its adapter leaves it out.</summary>
    public double? PresencePenalty { get; init; }

    /// <summary>
    /// OpenAI's <c>reasoning_effort</c> for reasoning models (<see cref="ReasoningEfforts"/>). Anthropic's extended
    /// thinking takes a token budget with its own constraints instead; its adapter leaves it out.
    /// </summary>
    public string? ReasoningEffort { get; init; }

    /// <summary>OpenAI's <c>parallel_tool_calls</c>; false maps to Anthropic's <c>disable_parallel_tool_use</c>.</summary>
    public bool? ParallelToolCalls { get; init; }

    public IReadOnlyList<ToolDefinition>? Tools { get; init; }

    /// <summary><c>auto</c>, <c>none</c>, <c>required</c>, or a JSON object naming a function.</summary>
    public JsonElement? ToolChoice { get; init; }

    public ResponseFormat? ResponseFormat { get; init; }

    /// <summary>Opt in to the exact cache for this request (null: the feature's setting / temperature-0 rule).</summary>
    public bool? Cache { get; init; }

    /// <summary>
    /// For a call rendered from a managed prompt: the variables it was rendered with. Never sent to a provider; recorded
    /// with the (redacted) trace so a replay can render them on another prompt version. Omitted from the trace when null.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? PromptVariables { get; init; }
}

/// <summary>The values of <see cref="ChatRequest.ReasoningEffort"/> OpenAI's reasoning models accept.</summary>
public static class ReasoningEfforts
{
    public static readonly IReadOnlyList<string> All = ["none", "minimal", "low", "medium", "high", "xhigh"];
}

/// <summary>An embeddings request.</summary>
public sealed record EmbeddingRequest
{
    /// <summary>An embedding alias (<c>embed</c>) or an allowed <c>provider/model</c>.</summary>
    public required string Model { get; init; }

    public required IReadOnlyList<string> Inputs { get; init; }

    /// <summary>Requested dimensions, where the model supports shortening.</summary>
    public int? Dimensions { get; init; }
}
