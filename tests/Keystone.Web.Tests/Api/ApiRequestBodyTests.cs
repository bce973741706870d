using System.Text;
using System.Text.Json;
using Keystone.Web.Platform.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// The body reader refuses text that is valid JSON but not valid Unicode wherever it is, before any field parser
/// (which may pass parts of the body on verbatim, such as a tool's JSON schema) sees it.
/// </summary>
public sealed class ApiRequestBodyTests
{
    private static readonly ApiRequestBody Reader = new(new FixedOptions(new ApiOptions()));

    [Theory]
    [InlineData("""{"messages":[{"content":"a\ud800b"}]}""")]
    [InlineData("""{"tools":[{"parameters":{"properties":{"x\udc00":{"type":"string"}}}}]}""")]
    [InlineData("""{"deep":[[[{"a":{"b":"\udfff"}}]]]}""")]
    public async Task Read_EscapedLoneSurrogateAnywhere_Answers400(string json)
    {
        var parsed = false;

        var error = await Assert.ThrowsAsync<ApiException>(() => Reader.ReadAsync(Request(json), _ => parsed = true, CancellationToken.None));

        Assert.Equal(400, error.Status);
        Assert.Contains("not valid Unicode", error.Message, StringComparison.Ordinal);
        Assert.False(parsed);
    }

    [Theory]
    [InlineData("""{"content":"smile \ud83d\ude00 \"quoted\" \\ back\\slash"}""", "content", "smile 😀 \"quoted\" \\ back\\slash")]
    [InlineData("""{"\u0075ser":"u-1"}""", "user", "u-1")]
    [InlineData("""{"content":"Grüße 😀"}""", "content", "Grüße 😀")]
    public async Task Read_ValidEscapesAndText_ReachTheParser(string json, string field, string expected)
    {
        var value = await Reader.ReadAsync(Request(json), root => root.GetProperty(field).GetString(), CancellationToken.None);

        Assert.Equal(expected, value);
    }

    private static HttpRequest Request(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var http = new DefaultHttpContext();
        http.Request.ContentType = "application/json";
        http.Request.ContentLength = bytes.Length;
        http.Request.Body = new MemoryStream(bytes);
        return http.Request;
    }

    private sealed class FixedOptions(ApiOptions value) : IOptionsMonitor<ApiOptions>
    {
        public ApiOptions CurrentValue => value;

        public ApiOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<ApiOptions, string?> listener) => null;
    }
}
