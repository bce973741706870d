using System.Net;
using System.Text;
using Keystone.Testing;

namespace Keystone.Web.Tests.Api;

/// <summary>Routes of the API answered with the wrong method or an unknown path: OpenAI's error shape, the right status.</summary>
public sealed class ApiRoutingTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    [Theory]
    [InlineData("GET", "/v1/chat/completions", "POST")]
    [InlineData("PUT", "/v1/embeddings", "POST")]
    [InlineData("POST", "/v1/models", "GET")]
    [InlineData("DELETE", "/api/v1/budgets", "GET, PUT")]
    [InlineData("GET", "/api/v1/feedback", "POST")]
    [InlineData("DELETE", "/api/v1/calls/0b0c6c4e-8c1e-4a47-9d6f-1b9e7b1b0c11", "GET")]
    [InlineData("POST", "/api/v1/calls", "GET")]
    public async Task Request_WrongMethod_Answers405WithAllowHeaderInErrorShape(string method, string path, string allow)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = method is "GET" or "DELETE" ? null : new StringContent("{}", Encoding.UTF8, "application/json"),
        };

        var response = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(allow, string.Join(", ", response.Content.Headers.Allow.Order(StringComparer.Ordinal)));
        var error = await ChatCompletionsApiTests.ErrorOf(response);
        Assert.Equal("method_not_allowed", error.GetProperty("code").GetString());
        Assert.Contains(method, error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_WrongMethodWithoutKey_Answers405NotAuthError()
    {
        var response = await fixture.ClientWith(null).GetAsync("/v1/chat/completions");

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(["POST"], response.Content.Headers.Allow);
    }

    [Theory]
    [InlineData("GET", "/v1/nothing-here")]
    [InlineData("POST", "/v1/chat/completions/extra")]
    [InlineData("GET", "/api/v1/calls/0b0c6c4e-8c1e-4a47-9d6f-1b9e7b1b0c11/attempts")]
    public async Task Request_UnknownPath_Answers404InErrorShape(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);

        var response = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("not_found", (await ChatCompletionsApiTests.ErrorOf(response)).GetProperty("code").GetString());
    }
}
