using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keystone.Testing;
using OpenAI.Chat;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// OpenAI's <c>x-ratelimit-*-requests</c> headers for the calling key's window: on answers, streams and refusals,
/// so clients that pace themselves by them work unchanged.
/// </summary>
public sealed partial class RateLimitHeadersTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private static StringContent Chat(bool stream = false) => new(
        $$"""{"model":"fast","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"Count my requests"}]}""",
        Encoding.UTF8, "application/json");

    [GeneratedRegex(@"^(\d|[1-5]\d)s$|^1m0s$")]
    private static partial Regex ResetForm();

    private static string Header(HttpResponseMessage response, string name) => response.Headers.GetValues(name).Single();

    private static int Number(HttpResponseMessage response, string name) => int.Parse(Header(response, name), CultureInfo.InvariantCulture);

    [Fact]
    public async Task Completions_KeyWithLimit_RemainingCountsDownThenTheRefusalCarriesZeroAndTheSameWait()
    {
        var (secret, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "paced key", requestsPerMinute: 2);
        var client = fixture.ClientWith(secret);

        using var first = await client.PostAsync("/v1/chat/completions", Chat());
        using var second = await client.PostAsync("/v1/chat/completions", Chat());
        using var refused = await client.PostAsync("/v1/chat/completions", Chat());

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(2, Number(first, "x-ratelimit-limit-requests"));
        Assert.Equal(1, Number(first, "x-ratelimit-remaining-requests"));
        Assert.Matches(ResetForm(), Header(first, "x-ratelimit-reset-requests"));
        Assert.Equal(0, Number(second, "x-ratelimit-remaining-requests"));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        using var body = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal("rate_limit_exceeded", body.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(2, Number(refused, "x-ratelimit-limit-requests"));
        Assert.Equal(0, Number(refused, "x-ratelimit-remaining-requests"));
        var reset = Header(refused, "x-ratelimit-reset-requests");
        var retryAfter = refused.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
        Assert.Equal(retryAfter >= 60 ? "1m0s" : $"{retryAfter:0}s", reset);
    }

    [Fact]
    public async Task Stream_CarriesTheWindowInItsHeaders()
    {
        var (secret, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "streaming paced key", requestsPerMinute: 5);
        var client = fixture.ClientWith(secret);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Chat(stream: true) };

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("data: [DONE]\n\n", text, StringComparison.Ordinal);
        Assert.Equal(5, Number(response, "x-ratelimit-limit-requests"));
        Assert.Equal(4, Number(response, "x-ratelimit-remaining-requests"));
    }

    [Fact]
    public async Task BudgetRefusal_AfterTheRequestWasCounted_StillTellsTheWindow()
    {
        var (secret, keyId) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "capped paced key", requestsPerMinute: 10);
        var admin = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var put = await admin.PutAsJsonAsync("/api/v1/budgets", new
        {
            caps = new[] { new { scope = "apiKey", key = keyId.ToString(), period = "day", limitMicros = 1 } },
        });
        put.EnsureSuccessStatusCode();

        using var refused = await fixture.ClientWith(secret).PostAsync("/v1/chat/completions", Chat());

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Contains("budget_exceeded", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(10, Number(refused, "x-ratelimit-limit-requests"));
        Assert.Equal(9, Number(refused, "x-ratelimit-remaining-requests"));
    }

    [Fact]
    public async Task OpenAiSdk_SeesTheHeadersOnItsRawResponse()
    {
        var (secret, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "sdk paced key", requestsPerMinute: 7);
        var chat = fixture.OpenAi(secret).GetChatClient("fast");

        ClientResult<ChatCompletion> result = await chat.CompleteChatAsync([new UserChatMessage("hi")]);

        var headers = result.GetRawResponse().Headers;
        Assert.True(headers.TryGetValue("x-ratelimit-limit-requests", out var limit));
        Assert.True(headers.TryGetValue("x-ratelimit-remaining-requests", out var remaining));
        Assert.Equal("7", limit);
        Assert.Equal("6", remaining);
    }
}
