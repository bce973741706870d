using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keystone.Testing;
using OpenAI.Chat;

namespace Keystone.Web.Tests.Api;

/// <summary>
/// The API's budget_exceeded (issue 21): OpenAI's error fields as the official SDK reads them, a machine-readable
/// <c>cap</c> object beside them, and a Retry-After that is the wait until the cap resets, said so in the message.
/// </summary>
public sealed class BudgetExceededAnswerTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private async Task<(string Secret, Guid KeyId)> CappedKeyAsync(long limitMicros)
    {
        var (secret, keyId) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "budget answer key");
        var put = await fixture.ClientWith(KeystoneAppFactory.DemoApiKey).PutAsJsonAsync("/api/v1/budgets", new
        {
            caps = new[] { new { scope = "apiKey", key = keyId.ToString(), period = "day", limitMicros } },
        });
        put.EnsureSuccessStatusCode();
        return (secret, keyId);
    }

    [Fact]
    public async Task CompleteChat_OverKeyCap_SdkRaises429AndTheRawBodyCarriesTheCapObject()
    {
        var (secret, keyId) = await CappedKeyAsync(1);
        var chat = fixture.OpenAi(secret).GetChatClient("smart");

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.Equal(429, ex.Status);
        Assert.Contains("budget_exceeded", ex.Message, StringComparison.Ordinal);
        using var body = JsonDocument.Parse(ex.GetRawResponse()!.Content.ToString());
        var error = body.RootElement.GetProperty("error");
        Assert.Equal(("budget_exceeded", "rate_limit_error"), (error.GetProperty("code").GetString(), error.GetProperty("type").GetString()));
        var cap = error.GetProperty("cap");
        Assert.Equal(("api_key", keyId.ToString(), "day", 1L, 0L, 0L),
            (cap.GetProperty("scope").GetString(), cap.GetProperty("key").GetString(), cap.GetProperty("period").GetString(),
                cap.GetProperty("limit_micros").GetInt64(), cap.GetProperty("spent_micros").GetInt64(), cap.GetProperty("reserved_micros").GetInt64()));
        Assert.True(cap.GetProperty("worst_case_micros").GetInt64() > 1);
        Assert.Equal($"{DateTime.UtcNow.Date.AddDays(1):yyyy-MM-dd}T00:00:00Z", cap.GetProperty("resets_at").GetString());
    }

    [Fact]
    public async Task RawPost_OverKeyCap_RetryAfterIsTheWaitUntilResetsAtAndTheMessageSaysSo()
    {
        var (secret, _) = await CappedKeyAsync(1);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"smart","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };

        using var response = await fixture.ClientWith(secret).SendAsync(request);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = body.RootElement.GetProperty("error");
        var resetsAt = DateTime.Parse(error.GetProperty("cap").GetProperty("resets_at").GetString()!, CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        var retryAfter = int.Parse(response.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture);
        // Counted at the refusal, a moment ago, and rounded up: at least what is left now, at most a little more.
        var left = (resetsAt - DateTime.UtcNow).TotalSeconds;
        Assert.InRange(retryAfter, left - 1, left + 30);
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains($"resets at {resetsAt:yyyy-MM-dd HH:mm} UTC", message, StringComparison.Ordinal);
        Assert.Contains("Retry-After gives that wait in seconds", message, StringComparison.Ordinal);
        Assert.DoesNotContain("micro-USD", message, StringComparison.Ordinal);
        Assert.True(error.TryGetProperty("param", out _));
    }
}
