using System.Text.Json;
using System.Text.Json.Serialization;

namespace Keystone.Web.Features.Api;

/// <summary>
/// Source-generated serializers for the API's hot answers. The chat answer is written on every call; the generated
/// fast path writes it straight through a <c>Utf8JsonWriter</c>, without the reflection metadata and the per-call
/// write stack of the general serializer. The DTOs name every property explicitly, so the output is the same as
/// with the app's web defaults (a test pins that).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ChatCompletionResponse))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
