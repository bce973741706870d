using System.Text.Json;

namespace Keystone.Testing.Upstreams;

/// <summary>A request the mock upstream received.</summary>
/// <param name="Method">HTTP method.</param>
/// <param name="Path">Path (with the base URL's path, e.g. <c>/v1/chat/completions</c>).</param>
/// <param name="Headers">Request headers (names lower-case).</param>
/// <param name="Body">Body text.</param>
public sealed record RecordedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body)
{
    /// <summary>The body parsed as JSON (a detached clone).</summary>
    public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();

    /// <summary>A header's value, or null.</summary>
    public string? Header(string name) => Headers.GetValueOrDefault(name.ToLowerInvariant());
}
