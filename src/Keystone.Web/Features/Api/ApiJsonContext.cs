using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Keystone.Web.Features.Api;

/// <summary>
/// Source-generated serializers for the API's hot answers. The chat answer is written on every call; the generated
/// fast path writes it straight through a <c>Utf8JsonWriter</c>, without the reflection metadata and the per-call
/// write stack of the general serializer. The DTOs name every property explicitly, so the output is the same as
/// with the app's web defaults (a test pins that).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ChatCompletionResponse))]
internal sealed partial class ApiJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The chat answer as it goes on the wire: the same properties, strings escaped only as JSON requires (quotes,
    /// backslashes, control characters), as OpenAI's own answers are. An answer is <c>application/json</c>, never embedded
    /// in HTML; the default encoder also escapes apostrophes, <c>&lt;&gt;&amp;+</c> and every non-ASCII character, which sent
    /// an answer with a single apostrophe (or in German) down the writer's slow per-character path on every call (issue 26).
    /// The JSON value is the same: every client's parser reads both.
    /// </summary>
    public static JsonTypeInfo<ChatCompletionResponse> Answer => Wire.Answer;

    // A class of its own: its initializer runs after the generated Default exists (static initializers of one class in
    // several partial files run in no set order).
    private static class Wire
    {
        public static readonly JsonTypeInfo<ChatCompletionResponse> Answer = (JsonTypeInfo<ChatCompletionResponse>)new JsonSerializerOptions(Default.Options)
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }.GetTypeInfo(typeof(ChatCompletionResponse));
    }
}
