using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json;
using Keystone.Testing;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace Keystone.Web.Tests.Api;

/// <summary>The official OpenAI .NET SDK, with only its endpoint and key changed, against the running app.</summary>
public sealed class OpenAiSdkCompatibilityTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private const string WeatherSchema = """
        {"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false}
        """;

    private static readonly string[] Units = ["c", "f"];

    [Fact]
    public async Task CompleteChat_WithDemoKey_AnswersTextWithUsage()
    {
        var chat = fixture.OpenAi(KeystoneAppFactory.DemoApiKey).GetChatClient("smart");

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("Explain caching in one paragraph.")]);

        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.False(string.IsNullOrWhiteSpace(completion.Content[0].Text));
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.True(completion.Usage.OutputTokenCount > 0);
        Assert.Equal("sim-smart", completion.Model);
    }

    [Fact]
    public async Task CompleteChatStreaming_WithDemoKey_TextArrivesInSeveralChunksWithFinalUsage()
    {
        var chat = fixture.OpenAi(KeystoneAppFactory.DemoApiKey).GetChatClient("fast");
        // The SDK asks for stream_options.include_usage itself.
        var pieces = new List<string>();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;

        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Tell me about rate limits.")]))
        {
            pieces.AddRange(update.ContentUpdate.Select(p => p.Text).Where(t => t.Length > 0));
            usage = update.Usage ?? usage;
            finish = update.FinishReason ?? finish;
        }

        Assert.True(pieces.Count >= 3, $"expected several text chunks, got {pieces.Count}");
        Assert.Equal(ChatFinishReason.Stop, finish);
        Assert.NotNull(usage);
        Assert.True(usage.OutputTokenCount > 0);
        Assert.Equal(usage.InputTokenCount + usage.OutputTokenCount, usage.TotalTokenCount);
    }

    [Fact]
    public async Task CompleteChat_WithRequiredTool_ReturnsToolCallMatchingSchema()
    {
        var chat = fixture.OpenAi(KeystoneAppFactory.DemoApiKey).GetChatClient("smart");
        var options = new ChatCompletionOptions
        {
            Tools = { ChatTool.CreateFunctionTool("get_weather", "Current weather for a city", BinaryData.FromString(WeatherSchema)) },
            ToolChoice = ChatToolChoice.CreateRequiredChoice(),
        };

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("What's the weather in Oslo?")], options);

        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.False(string.IsNullOrEmpty(call.Id));
        using var args = JsonDocument.Parse(call.FunctionArguments);
        Assert.Equal(JsonValueKind.String, args.RootElement.GetProperty("city").ValueKind);
        Assert.Contains(args.RootElement.GetProperty("unit").GetString(), Units);
    }

    [Fact]
    public async Task CompleteChatStreaming_WithRequiredTool_AssemblesToolCallFromDeltas()
    {
        var chat = fixture.OpenAi(KeystoneAppFactory.DemoApiKey).GetChatClient("smart");
        var options = new ChatCompletionOptions
        {
            Tools = { ChatTool.CreateFunctionTool("get_weather", "Current weather for a city", BinaryData.FromString(WeatherSchema)) },
            ToolChoice = ChatToolChoice.CreateRequiredChoice(),
        };
        string? name = null;
        var arguments = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;

        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Weather in Lima?")], options))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                name ??= part.FunctionName;
                arguments.Append(part.FunctionArgumentsUpdate?.ToString());
            }

            finish = update.FinishReason ?? finish;
        }

        Assert.Equal("get_weather", name);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        using var args = JsonDocument.Parse(arguments.ToString());
        Assert.True(args.RootElement.TryGetProperty("city", out _));
    }

    [Fact]
    public async Task CompleteChat_WithJsonSchemaFormat_ReturnsJsonMatchingSchema()
    {
        var chat = fixture.OpenAi(KeystoneAppFactory.DemoApiKey).GetChatClient("smart");
        var options = new ChatCompletionOptions
        {
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("weather", BinaryData.FromString(WeatherSchema), jsonSchemaIsStrict: true),
        };

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("Weather report for Rome")], options);

        using var json = JsonDocument.Parse(completion.Content[0].Text);
        Assert.Equal(JsonValueKind.String, json.RootElement.GetProperty("city").ValueKind);
        Assert.Contains(json.RootElement.GetProperty("unit").GetString(), Units);
    }

    [Fact]
    public async Task GenerateEmbeddings_WithDemoKey_ReturnsOneVectorPerInput()
    {
        var embeddings = fixture.OpenAi(KeystoneAppFactory.DemoApiKey).GetEmbeddingClient("embed");

        OpenAIEmbeddingCollection result = await embeddings.GenerateEmbeddingsAsync(["first text", "second text"]);

        Assert.Equal(2, result.Count);
        var first = result[0].ToFloats();
        var second = result[1].ToFloats();
        Assert.True(first.Length > 0);
        Assert.Equal(first.Length, second.Length);
        Assert.False(first.Span.SequenceEqual(second.Span));
    }

    [Fact]
    public async Task CompleteChat_WrongKey_SdkRaises401WithOurMessage()
    {
        var chat = fixture.OpenAi("ks_this_key_does_not_exist_0123456789").GetChatClient("smart");

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.Equal(401, ex.Status);
        Assert.Contains("invalid_api_key", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unknown or revoked API key", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompleteChat_ExpiredKey_SdkRaises401ApiKeyExpired()
    {
        var (key, _) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "expired", DateTime.UtcNow.AddDays(-1));
        var chat = fixture.OpenAi(key).GetChatClient("smart");

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.Equal(401, ex.Status);
        Assert.Contains("api_key_expired", ex.Message, StringComparison.Ordinal);
        Assert.Contains("API key 'expired'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompleteChat_OverKeyCap_SdkRaises429BudgetExceededNamingTheCap()
    {
        var (secret, keyId) = await fixture.CreateKeyAsync(ApiFixture.Acme, "chat", "capped key");
        var admin = fixture.ClientWith(KeystoneAppFactory.DemoApiKey);
        var put = await admin.PutAsJsonAsync("/api/v1/budgets", new
        {
            caps = new[] { new { scope = "apiKey", key = keyId.ToString(), period = "day", limitMicros = 1 } },
        });
        put.EnsureSuccessStatusCode();
        var chat = fixture.OpenAi(secret).GetChatClient("smart");

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.Equal(429, ex.Status);
        Assert.Contains("budget_exceeded", ex.Message, StringComparison.Ordinal);
        var raw = ex.GetRawResponse();
        Assert.NotNull(raw);
        using var body = JsonDocument.Parse(raw.Content.ToString());
        var error = body.RootElement.GetProperty("error");
        Assert.Equal("budget_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("rate_limit_error", error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.True(raw.Headers.TryGetValue("Retry-After", out var retryAfter) && int.Parse(retryAfter!, System.Globalization.CultureInfo.InvariantCulture) > 0);
    }
}
