using Keystone.Data.Calls;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Keystone.Gateway.Recording;
using Keystone.Testing;
using Keystone.Web.Tests.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static Keystone.Web.Tests.Prompts.PromptTestSetup;

namespace Keystone.Web.Tests.Prompts;

/// <summary><c>POST /v1/prompts/{name}/completions</c> over real HTTP with Acme's API key (real gateway, simulated provider).</summary>
public sealed class PromptCompletionsApiTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    private HttpClient Client()
    {
        var client = fixture.App.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", KeystoneAppFactory.DemoApiKey);
        return client;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
        => JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");

    [Fact]
    public async Task Post_ActivePromptWithVariables_AnswersAChatCompletionAndRecordsThePromptVersion()
    {
        var (name, v1, _) = await CreateTwoVersionPromptAsync(fixture.App);

        var response = await Client().PostAsync($"/v1/prompts/{name}/completions",
            Json("""{"variables":{"company":"Acme","question":"Do you ship to Norway?"},"user":"api-cust-1"}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()));
        var traceId = Guid.Parse(response.Headers.GetValues("X-Keystone-Trace-Id").Single());
        await fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        await using var db = fixture.App.CreateSystemDb();
        var call = await db.Calls.AsNoTracking().SingleAsync(c => c.TraceId == traceId);
        Assert.Equal(name, call.PromptName);
        Assert.Equal(v1.Id, call.PromptVersionId);
        Assert.Equal("api-cust-1", call.EndUser);
        Assert.NotNull(call.ApiKeyId);
        var trace = (await TracePayloads.ReadOneAsync(db, call.Id, raw: true, default))!;
        Assert.Contains("V1: Do you ship to Norway?", trace.RequestJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_ExplicitVersion_RendersThatVersion()
    {
        var (name, _, v2) = await CreateTwoVersionPromptAsync(fixture.App);

        var response = await Client().PostAsync($"/v1/prompts/{name}/completions",
            Json("""{"variables":{"company":"Acme","question":"Version two?"},"version":2}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var traceId = Guid.Parse(response.Headers.GetValues("X-Keystone-Trace-Id").Single());
        await fixture.App.Services.GetRequiredService<CallRecorder>().FlushAsync(CancellationToken.None);
        await using var db = fixture.App.CreateSystemDb();
        Assert.Equal(v2.Id, (await db.Calls.AsNoTracking().SingleAsync(c => c.TraceId == traceId)).PromptVersionId);
    }

    [Fact]
    public async Task Post_Streaming_AnswersServerSentEventsEndingWithDone()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(fixture.App);

        var response = await Client().PostAsync($"/v1/prompts/{name}/completions",
            Json("""{"variables":{"company":"Acme","question":"Stream it"},"stream":true}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("\"chat.completion.chunk\"", text, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("no-such-prompt", """{"variables":{}}""", 404, "prompt_not_found", null)]
    [InlineData("{existing}", """{"variables":{"company":"Acme"}}""", 400, "missing_variable", "variables.question")]
    [InlineData("{existing}", """{"variables":{}}""", 400, "missing_variable", "variables.company")]
    [InlineData("{existing}", """{"variables":{"company":"Acme","question":"q"},"version":9}""", 404, "prompt_version_not_found", "version")]
    [InlineData("{existing}", """{"variables":["a"]}""", 400, "invalid_request_error", "variables")]
    [InlineData("{existing}", """{"variables":{"company":{"nested":1},"question":"q"}}""", 400, "invalid_request_error", "variables.company")]
    public async Task Post_BadRequest_AnswersOpenAiErrorShapeWithCodeAndParam(string prompt, string body, int status, string code, string? param)
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(fixture.App);

        var response = await Client().PostAsync($"/v1/prompts/{prompt.Replace("{existing}", name, StringComparison.Ordinal)}/completions", Json(body));

        Assert.Equal(status, (int)response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal(param, error.GetProperty("param").ValueKind == JsonValueKind.Null ? null : error.GetProperty("param").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Post_WithoutApiKey_Answers401()
    {
        var (name, _, _) = await CreateTwoVersionPromptAsync(fixture.App);

        var response = await fixture.App.CreateClient().PostAsync($"/v1/prompts/{name}/completions", Json("""{"variables":{}}"""));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
