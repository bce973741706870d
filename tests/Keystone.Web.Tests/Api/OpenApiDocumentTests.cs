using System.Net;
using System.Text.Json;

namespace Keystone.Web.Tests.Api;

/// <summary>The OpenAPI document covers every endpoint of the HTTP API, and the console renders it for tenant admins.</summary>
public sealed class OpenApiDocumentTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    public static TheoryData<string, string> Operations => new()
    {
        { "/v1/chat/completions", "post" },
        { "/v1/embeddings", "post" },
        { "/v1/models", "get" },
        { "/v1/models/{model}", "get" },
        { "/api/v1/calls", "get" },
        { "/api/v1/calls/{traceId}", "get" },
        { "/api/v1/usage", "get" },
        { "/api/v1/feedback", "post" },
        { "/api/v1/budgets", "get" },
        { "/api/v1/budgets", "put" },
    };

    [Theory]
    [MemberData(nameof(Operations))]
    public async Task Get_Document_DescribesOperationWithErrorResponses(string path, string method)
    {
        using var doc = JsonDocument.Parse(await fixture.App.CreateClient().GetStringAsync("/openapi/v1.json"));

        var operation = doc.RootElement.GetProperty("paths").GetProperty(path).GetProperty(method);
        Assert.False(string.IsNullOrEmpty(operation.GetProperty("summary").GetString()));
        var responses = operation.GetProperty("responses");
        Assert.True(responses.TryGetProperty("401", out _), $"{method} {path} documents no 401");
        Assert.Contains(responses.EnumerateObject(), r => r.Name.StartsWith('2'));
    }

    [Fact]
    public async Task Get_Document_ChatRequestSchemaNamesTheForwardedSamplingOptions()
    {
        using var doc = JsonDocument.Parse(await fixture.App.CreateClient().GetStringAsync("/openapi/v1.json"));

        var properties = doc.RootElement.GetProperty("components").GetProperty("schemas").GetProperty("ChatCompletionRequestDoc").GetProperty("properties");
        Assert.All(["frequency_penalty", "presence_penalty", "reasoning_effort", "parallel_tool_calls", "seed", "max_completion_tokens"],
            name => Assert.True(properties.TryGetProperty(name, out _), name));
    }

    [Fact]
    public async Task Get_Document_ListsOnlyTheHttpApiAndTheBearerScheme()
    {
        using var doc = JsonDocument.Parse(await fixture.App.CreateClient().GetStringAsync("/openapi/v1.json"));

        var paths = doc.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.All(paths, p => Assert.True(p.StartsWith("/v1/", StringComparison.Ordinal) || p.StartsWith("/api/v1/", StringComparison.Ordinal), p));
        var scheme = doc.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal("bearer", scheme.GetProperty("scheme").GetString());
    }

    [Fact]
    public async Task Get_ApiDocsPageAsTenantAdmin_RendersEveryOperation()
    {
        var client = await fixture.App.SignInAsync("admin@acme.demo");

        var response = await client.GetAsync("/api-docs");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("/v1/chat/completions", html, StringComparison.Ordinal);
        Assert.Contains("/api/v1/budgets", html, StringComparison.Ordinal);
        Assert.Contains("ChatCompletionResponse", html, StringComparison.Ordinal);
    }
}
