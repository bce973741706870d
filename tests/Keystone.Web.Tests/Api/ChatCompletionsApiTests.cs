using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Data.Calls;
using Keystone.Testing;
using Microsoft.EntityFrameworkCore;

namespace Keystone.Web.Tests.Api;

/// <summary>The raw HTTP contract of <c>/v1</c>: headers, recorded cost, streaming format, errors, attribution.</summary>
public sealed class ChatCompletionsApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static readonly string[] ModelErrors = ["model_not_found", "model_not_allowed"];
    private static readonly int[] OutageStatuses = [502, 503];

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Post_Completion_CarriesAttributionHeadersMatchingTheRecordedCall()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json("""{"model":"fast","user":"end-user-42","messages":[{"role":"user","content":"Summarize budgets"}]}"""),
        };
        request.Headers.Add("X-Keystone-Feature", "support-bot");

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var traceId = Guid.Parse(response.Headers.GetValues("X-Keystone-Trace-Id").Single());
        var cost = long.Parse(response.Headers.GetValues("X-Keystone-Cost-Micros").Single(), CultureInfo.InvariantCulture);
        Assert.Equal("miss", response.Headers.GetValues("X-Keystone-Cache").Single());
        Assert.Equal("sim", response.Headers.GetValues("X-Keystone-Provider").Single());
        Assert.Equal("sim-fast", response.Headers.GetValues("X-Keystone-Model").Single());
        Assert.True(double.Parse(response.Headers.GetValues("X-Gateway-Overhead-Ms").Single(), CultureInfo.InvariantCulture) >= 0);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(cost, body.RootElement.GetProperty("usage").GetProperty("x_keystone_cost_micros").GetInt64());

        await fixture.FlushCallsAsync();
        await using var db = fixture.App.CreateSystemDb();
        var call = await db.Calls.SingleAsync(c => c.TraceId == traceId);
        Assert.Equal(ApiFixture.Acme, call.TenantId);
        Assert.Equal("support-bot", call.Feature);
        Assert.Equal("end-user-42", call.EndUser);
        Assert.Equal(cost, call.CostMicros);
        Assert.True(cost > 0);
        Assert.Equal(CostStatus.Exact, call.CostStatus);
        Assert.NotNull(call.ApiKeyId);
    }

    [Fact]
    public async Task Post_Stream_IsEventStreamEndingWithDoneAndCostInFinalChunk()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions",
            Json("""{"model":"fast","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Stream please"}]}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no", response.Headers.GetValues("X-Accel-Buffering").Single());
        var traceId = Guid.Parse(response.Headers.GetValues("X-Keystone-Trace-Id").Single());
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        Assert.All(events, e => Assert.StartsWith("data: ", e, StringComparison.Ordinal));
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        var finish = chunks.Single(c => c.GetProperty("choices").GetArrayLength() == 1
            && c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String);
        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        var cost = usageChunk.GetProperty("usage").GetProperty("x_keystone_cost_micros").GetInt64();
        Assert.Equal(cost, finish.GetProperty("x_keystone_cost_micros").GetInt64());

        await fixture.FlushCallsAsync();
        await using var db = fixture.App.CreateSystemDb();
        var call = await db.Calls.SingleAsync(c => c.TraceId == traceId);
        Assert.True(call.Streamed);
        Assert.Equal(cost, call.CostMicros);
        Assert.Equal(CallStatus.Ok, call.Status);
    }

    [Fact]
    public async Task Post_ParaphraseInSemanticCacheFeature_SaysSemanticWithItsSimilarityAndCostsNothing()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        // Words unique to this test, so answers cached by other tests of the shared app are not in play.
        var topic = $"w{Guid.NewGuid():N}";
        HttpRequestMessage Ask(string question, bool stream = false)
        {
            var body = JsonSerializer.Serialize(new { model = "fast", stream, messages = new[] { new { role = "user", content = question } } });
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) };
            request.Headers.Add("X-Keystone-Feature", "faq");
            return request;
        }

        using var first = await client.SendAsync(Ask($"How do refunds work for {topic} orders?"));
        var firstAnswer = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement;
        using var second = await client.SendAsync(Ask($"How do refunds work for {topic} orders please?"));
        var secondAnswer = JsonDocument.Parse(await second.Content.ReadAsStringAsync()).RootElement;
        using var streamed = await client.SendAsync(Ask($"how do refunds work for {topic} orders", stream: true));
        await streamed.Content.ReadAsStringAsync();

        Assert.Equal("miss", first.Headers.GetValues("X-Keystone-Cache").Single());
        Assert.False(first.Headers.Contains("X-Keystone-Cache-Similarity"));
        Assert.Equal("semantic", second.Headers.GetValues("X-Keystone-Cache").Single());
        // Every answer names provider and model; a hit names the ones whose answer it serves.
        Assert.Equal(first.Headers.GetValues("X-Keystone-Provider").Single(), second.Headers.GetValues("X-Keystone-Provider").Single());
        Assert.Equal(first.Headers.GetValues("X-Keystone-Model").Single(), second.Headers.GetValues("X-Keystone-Model").Single());
        Assert.Equal(first.Headers.GetValues("X-Keystone-Model").Single(), streamed.Headers.GetValues("X-Keystone-Model").Single());
        var similarity = double.Parse(second.Headers.GetValues("X-Keystone-Cache-Similarity").Single(), CultureInfo.InvariantCulture);
        Assert.InRange(similarity, 0.85, 0.9999);
        Assert.Equal("0", second.Headers.GetValues("X-Keystone-Cost-Micros").Single());
        Assert.Equal(Content(firstAnswer), Content(secondAnswer));
        Assert.Equal("semantic", streamed.Headers.GetValues("X-Keystone-Cache").Single());
        Assert.Equal("1.0", streamed.Headers.GetValues("X-Keystone-Cache-Similarity").Single());

        // The recorded hit names the trace it was served from (the calls API is how a product finds out).
        await fixture.FlushCallsAsync();
        using var hit = JsonDocument.Parse(await client.GetStringAsync($"/api/v1/calls/{second.Headers.GetValues("X-Keystone-Trace-Id").Single()}"));
        Assert.Equal(first.Headers.GetValues("X-Keystone-Trace-Id").Single(), hit.RootElement.GetProperty("cacheSourceTraceId").GetString());
        // The header rounds to four decimals.
        Assert.Equal(similarity, hit.RootElement.GetProperty("cacheSimilarity").GetDouble(), tolerance: 0.00006);
        using var miss = JsonDocument.Parse(await client.GetStringAsync($"/api/v1/calls/{first.Headers.GetValues("X-Keystone-Trace-Id").Single()}"));
        Assert.Equal(JsonValueKind.Null, miss.RootElement.GetProperty("cacheSourceTraceId").ValueKind);

        static string? Content(JsonElement answer) => answer.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
    }

    [Fact]
    public async Task Post_StreamServedFromTheExactCache_SaysSoInItsHeaderAndFinalChunk()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var body = $$"""{"model":"fast","stream":true,"temperature":0,"messages":[{"role":"user","content":"Cache me {{Guid.NewGuid():N}}"}]}""";

        using var first = await client.PostAsync("/v1/chat/completions", Json(body));
        var firstText = await first.Content.ReadAsStringAsync();
        await fixture.FlushCallsAsync();
        using var second = await client.PostAsync("/v1/chat/completions", Json(body));
        var secondText = await second.Content.ReadAsStringAsync();

        Assert.Equal("miss", first.Headers.GetValues("X-Keystone-Cache").Single());
        Assert.Equal("exact", second.Headers.GetValues("X-Keystone-Cache").Single());
        Assert.Contains("\"x_keystone_cache\":\"exact\"", secondText, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", firstText, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", secondText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_StreamCutAfterTokens_EndsWithErrorEventAndNoDone()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions",
            Json("""{"model":"fast","stream":true,"messages":[{"role":"user","content":"Long answer [sim:cut=3]"}]}"""));

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("[DONE]", text, StringComparison.Ordinal);
        var last = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[^1];
        using var error = JsonDocument.Parse(last["data: ".Length..]);
        Assert.False(string.IsNullOrEmpty(error.RootElement.GetProperty("error").GetProperty("code").GetString()));
    }

    [Fact]
    public async Task Post_SlowFirstToken_SendsKeepAliveCommentsBeforeTheFirstChunk()
    {
        using var app = new KeystoneAppFactory().WithSetting("Api:StreamKeepAliveInterval", "00:00:00.050");
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", KeystoneAppFactory.DemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions",
            Json("""{"model":"fast","stream":true,"messages":[{"role":"user","content":"Take your time [sim:slow=600]"}]}"""));

        var text = await response.Content.ReadAsStringAsync();
        Assert.StartsWith(": keep-alive\n\n", text, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_StreamRejectedBeforeFirstToken_AnswersJsonErrorWithRealStatus()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions",
            Json("""{"model":"no-such-alias","stream":true,"messages":[{"role":"user","content":"hi"}]}"""));

        Assert.InRange((int)response.StatusCode, 400, 404);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = await ErrorOf(response);
        Assert.Contains(error.GetProperty("code").GetString(), ModelErrors);
    }

    [Fact]
    public async Task Post_EveryProviderFails_Answers502Or503NeverAuthError()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions",
            Json("""{"model":"fast","messages":[{"role":"user","content":"hi [sim:fail=500]"}]}"""));

        Assert.Contains((int)response.StatusCode, OutageStatuses);
        var error = await ErrorOf(response);
        Assert.Equal("api_error", error.GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}]}""", "model")]
    [InlineData("""{"model":"fast"}""", "messages")]
    [InlineData("""{"model":"fast","messages":[]}""", "messages")]
    [InlineData("""{"model":"fast","messages":[{"role":"robot","content":"hi"}]}""", "messages[0].role")]
    [InlineData("""{"model":"fast","messages":[{"role":"user","content":42}]}""", "messages[0].content")]
    [InlineData("""{"model":"fast","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", "temperature")]
    [InlineData("""{"model":"fast","messages":[{"role":"user","content":"hi"}],"temperature":3}""", "temperature")]
    [InlineData("""{"model":"fast","messages":[{"role":"user","content":"hi"}],"n":2}""", "n")]
    [InlineData("""{"model":"fast","messages":[{"role":"user","content":"hi"}],"max_tokens":0}""", "max_tokens")]
    [InlineData("""{"model":"fast","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{}}]}""", "tools[0].function.name")]
    [InlineData("""{"model":"fast","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema"}}""", "response_format.json_schema")]
    [InlineData("""{"model":"fast","messages":[{"role":"user","content":"hi"}],"stream":"yes"}""", "stream")]
    [InlineData("""[1,2,3]""", "body")]
    [InlineData("""{"model":"fast",""", "body")]
    public async Task Post_InvalidBody_Answers400NamingTheField(string body, string param)
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions", Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorOf(response);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Post_BodyOverLimit_Answers413()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var big = new string('a', 4 * 1024 * 1024 + 1);

        var response = await client.PostAsync("/v1/chat/completions", Json($$"""{"model":"fast","messages":[{"role":"user","content":"{{big}}"}]}"""));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("request_too_large", (await ErrorOf(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Post_NotJson_Answers415()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        var response = await client.PostAsync("/v1/chat/completions", new StringContent("model=fast", Encoding.UTF8, "application/x-www-form-urlencoded"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("unsupported_media_type", (await ErrorOf(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Get_UnknownRoute_Answers404InErrorShape()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        var response = await client.GetAsync("/v1/does-not-exist");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("not_found", (await ErrorOf(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Post_BadFeatureHeader_Answers400NamingTheHeader()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = Json("""{"model":"fast","messages":[{"role":"user","content":"hi"}]}"""),
        };
        request.Headers.Add("X-Keystone-Feature", "has spaces and ünïcode");

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("X-Keystone-Feature", (await ErrorOf(response)).GetProperty("param").GetString());
    }

    [Fact]
    public async Task Get_Models_ListsTheAliasesInOpenAiShape()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        using var body = JsonDocument.Parse(await client.GetStringAsync("/v1/models"));

        Assert.Equal("list", body.RootElement.GetProperty("object").GetString());
        var ids = body.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
        Assert.Contains("smart", ids);
        Assert.Contains("fast", ids);
        Assert.Contains("embed", ids);
    }

    [Fact]
    public async Task Post_EmbeddingsBase64_DecodesToTheFloatVector()
    {
        var client = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);

        var asFloats = await client.PostAsync("/v1/embeddings", Json("""{"model":"embed","input":"same text"}"""));
        var asBase64 = await client.PostAsync("/v1/embeddings", Json("""{"model":"embed","input":"same text","encoding_format":"base64"}"""));

        using var f = JsonDocument.Parse(await asFloats.Content.ReadAsStringAsync());
        using var b = JsonDocument.Parse(await asBase64.Content.ReadAsStringAsync());
        var floats = f.RootElement.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var bytes = Convert.FromBase64String(b.RootElement.GetProperty("data")[0].GetProperty("embedding").GetString()!);
        var decoded = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray();
        Assert.Equal(floats, decoded);
        Assert.True(asFloats.Headers.Contains("X-Keystone-Cost-Micros"));
    }

    internal static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(text);
        var error = doc.RootElement.GetProperty("error").Clone();
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("code", out _));
        Assert.True(error.TryGetProperty("param", out _));
        return error;
    }
}
