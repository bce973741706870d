using System.Text.Json.Serialization;

namespace Keystone.Web.Platform.Http;

/// <summary>OpenAI's error body: <c>{"error": {"message", "type", "code", "param"}}</c>.</summary>
internal sealed record ApiErrorBody([property: JsonPropertyName("error")] ApiErrorDetail Error);

/// <summary>The inside of <see cref="ApiErrorBody"/>.</summary>
internal sealed record ApiErrorDetail(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("code")] string? Code,
    [property: JsonPropertyName("param")] string? Param);
