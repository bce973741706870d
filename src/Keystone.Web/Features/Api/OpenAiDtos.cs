using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Keystone.Web.Features.Api;

// OpenAI's wire shapes, named as OpenAI names them. Explicit property names keep the runtime JSON and the
// OpenAPI document in agreement whatever the app's default naming policy is.

/// <summary>A chat completion (<c>object: chat.completion</c>).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "A theory parameter of ApiJsonContextTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public sealed record ChatCompletionResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("choices")] IReadOnlyList<ChatChoice> Choices,
    [property: JsonPropertyName("usage")] ChatUsage Usage);

[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of ChatCompletionResponse, a theory parameter of ApiJsonContextTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public sealed record ChatChoice(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("message")] ChatChoiceMessage Message,
    [property: JsonPropertyName("finish_reason")] string FinishReason);

[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of ChatCompletionResponse, a theory parameter of ApiJsonContextTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public sealed record ChatChoiceMessage(
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("content")] string? Content,
    [property: JsonPropertyName("tool_calls"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ToolCallDto>? ToolCalls);

[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of ChatCompletionResponse, a theory parameter of ApiJsonContextTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public sealed record ToolCallDto(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("function")] ToolCallFunctionDto Function);

[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of ChatCompletionResponse, a theory parameter of ApiJsonContextTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public sealed record ToolCallFunctionDto(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("arguments")] string Arguments);

/// <summary>Token usage, plus Keystone's cost extension <c>x_keystone_cost_micros</c> (micro-USD).</summary>
[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of ChatCompletionResponse, a theory parameter of ApiJsonContextTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public sealed record ChatUsage(
    [property: JsonPropertyName("prompt_tokens")] int PromptTokens,
    [property: JsonPropertyName("completion_tokens")] int CompletionTokens,
    [property: JsonPropertyName("total_tokens")] int TotalTokens,
    [property: JsonPropertyName("prompt_tokens_details")] PromptTokensDetails PromptTokensDetails,
    [property: JsonPropertyName("completion_tokens_details")] CompletionTokensDetails CompletionTokensDetails,
    [property: JsonPropertyName("x_keystone_cost_micros")] long CostMicros);

[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of ChatCompletionResponse, a theory parameter of ApiJsonContextTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public sealed record PromptTokensDetails([property: JsonPropertyName("cached_tokens")] int CachedTokens);

[SuppressMessage("Maintainability", "CA1515:Consider making public types internal", Justification = "Part of ChatCompletionResponse, a theory parameter of ApiJsonContextTests in Keystone.Web.Tests: xunit runs public test methods only.")]
public sealed record CompletionTokensDetails([property: JsonPropertyName("reasoning_tokens")] int ReasoningTokens);

/// <summary>The model list (<c>object: list</c>).</summary>
internal sealed record ModelList(
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("data")] IReadOnlyList<ModelDto> Data);

/// <summary>One model or alias; <c>x_keystone_kind</c> says which, <c>x_keystone_targets</c> the alias chain.</summary>
internal sealed record ModelDto(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("owned_by")] string OwnedBy,
    [property: JsonPropertyName("x_keystone_kind")] string Kind,
    [property: JsonPropertyName("x_keystone_targets")] IReadOnlyList<string> Targets,
    [property: JsonPropertyName("x_keystone_embedding")] bool IsEmbedding);

/// <summary>Embeddings (<c>object: list</c>).</summary>
internal sealed record EmbeddingList(
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("data")] IReadOnlyList<EmbeddingDto> Data,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("usage")] EmbeddingUsage Usage);

/// <summary>One vector: an array of floats, or base64 of little-endian float32 when <c>encoding_format</c> is <c>base64</c>.</summary>
internal sealed record EmbeddingDto(
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("embedding")] JsonElement Embedding);

internal sealed record EmbeddingUsage(
    [property: JsonPropertyName("prompt_tokens")] int PromptTokens,
    [property: JsonPropertyName("total_tokens")] int TotalTokens,
    [property: JsonPropertyName("x_keystone_cost_micros")] long CostMicros);

/// <summary>The documented request body of <c>POST /v1/chat/completions</c> (read by hand; this type exists for the OpenAPI document).</summary>
internal sealed record ChatCompletionRequestDoc(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("messages")] IReadOnlyList<ChatMessageDoc> Messages,
    [property: JsonPropertyName("temperature")] double? Temperature,
    [property: JsonPropertyName("top_p")] double? TopP,
    [property: JsonPropertyName("max_tokens")] int? MaxTokens,
    [property: JsonPropertyName("max_completion_tokens")] int? MaxCompletionTokens,
    [property: JsonPropertyName("n")] int? N,
    [property: JsonPropertyName("stop")] JsonElement? Stop,
    [property: JsonPropertyName("seed")] int? Seed,
    [property: JsonPropertyName("frequency_penalty")] double? FrequencyPenalty,
    [property: JsonPropertyName("presence_penalty")] double? PresencePenalty,
    [property: JsonPropertyName("reasoning_effort")] string? ReasoningEffort,
    [property: JsonPropertyName("parallel_tool_calls")] bool? ParallelToolCalls,
    [property: JsonPropertyName("tools")] IReadOnlyList<ToolDoc>? Tools,
    [property: JsonPropertyName("tool_choice")] JsonElement? ToolChoice,
    [property: JsonPropertyName("response_format")] JsonElement? ResponseFormat,
    [property: JsonPropertyName("user")] string? User,
    [property: JsonPropertyName("stream")] bool? Stream,
    [property: JsonPropertyName("stream_options")] StreamOptionsDoc? StreamOptions);

internal sealed record ChatMessageDoc(
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("content")] JsonElement? Content,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("tool_calls")] IReadOnlyList<ToolCallDto>? ToolCalls,
    [property: JsonPropertyName("tool_call_id")] string? ToolCallId);

internal sealed record ToolDoc(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("function")] ToolFunctionDoc Function);

internal sealed record ToolFunctionDoc(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("parameters")] JsonElement? Parameters);

internal sealed record StreamOptionsDoc([property: JsonPropertyName("include_usage")] bool? IncludeUsage);

/// <summary>The documented request body of <c>POST /v1/embeddings</c>.</summary>
internal sealed record EmbeddingRequestDoc(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("input")] JsonElement Input,
    [property: JsonPropertyName("dimensions")] int? Dimensions,
    [property: JsonPropertyName("encoding_format")] string? EncodingFormat,
    [property: JsonPropertyName("user")] string? User);
