using System.Diagnostics;
using System.Text.Json;
using Keystone.Data.Pricing;
using Keystone.Gateway.Pricing;
using Keystone.Testing.Upstreams;

namespace Keystone.Gateway.Tests.Providers;

public sealed class OpenAiProviderTests : IAsyncLifetime
{
    private const string PlatformKey = "sk-platform-test-0123456789";
    private MockOpenAiServer _server = null!;
    private ProviderTestHost _host = null!;

    // gpt-4o-mini list price: input $0.15, cached input $0.075, output $0.60 per 1M tokens.
    private static readonly PriceRow Gpt4oMini = new("openai", "gpt-4o-mini", DateTime.UnixEpoch, 150_000, 600_000, 75_000, null, null, 50, "test");

    public async Task InitializeAsync()
    {
        _server = await MockOpenAiServer.StartAsync();
        _host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:openai:Kind"] = "OpenAI",
            ["Gateway:Providers:openai:BaseUrl"] = _server.BaseUrl.ToString(),
            ["Gateway:Providers:openai:ApiKey"] = PlatformKey,
            ["Gateway:Providers:openai:TimeoutSeconds"] = "5",
            ["Gateway:Providers:openai:StreamIdleTimeoutSeconds"] = "5",
        });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _server.DisposeAsync();
    }

    private IModelProvider Provider => _host.Provider("openai");

    private static ChatRequest Hello => ProviderTestHost.Chat(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hello?"));

    [Fact]
    public async Task Complete_TextNeedingEscapes_ReachesTheProviderUnchanged()
    {
        // The body is written with JSON's own escaping only (issue 26): apostrophes, HTML characters and non-ASCII text go
        // out as they are, quotes, backslashes and control characters escaped; the provider reads back the same strings.
        // A long prompt makes the pooled body buffer grow while writing.
        var system = string.Concat(Enumerable.Repeat("Don't <b>guess</b> & keep \"quotes\", back\\slashes, Grüße, 😀 + tabs\t and\nlines. ", 200));
        const string user = "What's \u0001 next?";
        _server.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "ok", 5, 1)));

        await Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", ProviderTestHost.Chat(new ChatMessage("system", system), new ChatMessage("user", user))),
            CancellationToken.None);

        var sent = _server.LastRequest;
        var messages = sent.Json.GetProperty("messages");
        Assert.Equal(system, messages[0].GetProperty("content").GetString());
        Assert.Equal(user, messages[1].GetProperty("content").GetString());
        Assert.Contains("Don't <b>guess</b> & keep", sent.Body, StringComparison.Ordinal);
        Assert.Contains("Grüße", sent.Body, StringComparison.Ordinal);
        Assert.Contains("\\u0001", sent.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_ManyCalls_EachSendsItsOwnBody()
    {
        // The body buffer is pooled and returned after each call: a later call never sends an earlier call's bytes.
        for (var i = 0; i < 20; i++)
        {
            _server.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "ok", 5, 1)));
            var text = $"Question {i}: " + new string((char)('a' + i), 50 * (20 - i));
            await Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", ProviderTestHost.Chat(new ChatMessage("user", text))), CancellationToken.None);

            Assert.Equal(text, _server.LastRequest.Json.GetProperty("messages")[0].GetProperty("content").GetString());
        }
    }

    [Fact]
    public async Task Complete_WithoutCachedTokens_ReportsUsageAndGoldenCost()
    {
        _server.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini-2024-07-18", "Hi there.", promptTokens: 1234, completionTokens: 567)));

        var response = await Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None);
        var cost = PriceBook.Calculate(Gpt4oMini, response.Usage);

        Assert.Equal("Hi there.", response.Text);
        Assert.Equal("stop", response.FinishReason);
        Assert.Equal("gpt-4o-mini-2024-07-18", response.ProviderModel);
        Assert.Equal(new Usage(1234, 567), response.Usage);
        // 1,234 × 150,000 + 567 × 600,000 = 185,100,000 + 340,200,000 = 525,300,000 / 1e6 = 525.3 → 525.
        Assert.Equal(525, cost.CostMicros);
    }

    [Fact]
    public async Task Complete_WithCachedAndReasoningTokens_ReportsEveryUsageFieldAndGoldenCost()
    {
        _server.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "Hi.", promptTokens: 2000, completionTokens: 500,
            cachedTokens: 1280, reasoningTokens: 120)));

        var response = await Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None);
        var cost = PriceBook.Calculate(Gpt4oMini, response.Usage);

        Assert.Equal(new Usage(2000, 500, CachedInputTokens: 1280, ReasoningTokens: 120), response.Usage);
        // uncached 720 × 150,000 + cached 1,280 × 75,000 + output 500 × 600,000 (reasoning inside) = 504,000,000 / 1e6 = 504.
        Assert.Equal(504, cost.CostMicros);
    }

    [Fact]
    public async Task Stream_WithoutCachedTokens_YieldsTextThenFinishThenUsageAndGoldenCost()
    {
        _server.Enqueue(MockReply.Sse(MockOpenAiServer.StreamEvents("gpt-4o-mini", ["Hel", "lo", " world"], promptTokens: 1234, completionTokens: 567)));

        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None));
        var cost = PriceBook.Calculate(Gpt4oMini, transcript.Usage!);

        Assert.Equal("Hello world", transcript.Text);
        Assert.IsType<ProviderUsage>(transcript.Events[^1]);
        Assert.IsType<ProviderFinish>(transcript.Events[^2]);
        Assert.Equal("stop", transcript.Finish);
        Assert.Equal(new Usage(1234, 567), transcript.Usage);
        Assert.Equal(525, cost.CostMicros);
    }

    [Fact]
    public async Task Stream_WithCachedTokens_ReadsUsageFromTheLastChunkAndGoldenCost()
    {
        _server.Enqueue(MockReply.Sse(MockOpenAiServer.StreamEvents("gpt-4o-mini", ["Hi"], promptTokens: 2000, completionTokens: 500, cachedTokens: 1280)));

        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None));
        var cost = PriceBook.Calculate(Gpt4oMini, transcript.Usage!);

        Assert.Equal(new Usage(2000, 500, CachedInputTokens: 1280), transcript.Usage);
        // 720 × 150,000 + 1,280 × 75,000 + 500 × 600,000 = 504,000,000 / 1e6 = 504.
        Assert.Equal(504, cost.CostMicros);
    }

    [Fact]
    public async Task Stream_Request_AsksForUsageAndSendsBearerKey()
    {
        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello, maxTokens: 77), CancellationToken.None));

        var request = _server.LastRequest;
        var body = request.Json;
        Assert.Equal("Hello from the mock.", transcript.Text);
        Assert.Equal("/v1/chat/completions", request.Path);
        Assert.Equal($"Bearer {PlatformKey}", request.Header("Authorization"));
        Assert.True(body.GetProperty("stream").GetBoolean());
        Assert.True(body.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.Equal(77, body.GetProperty("max_tokens").GetInt32());
        Assert.Equal("system", body.GetProperty("messages")[0].GetProperty("role").GetString());
        Assert.Equal("Be brief.", body.GetProperty("messages")[0].GetProperty("content").GetString());
    }

    [Fact]
    public async Task Stream_LongPromptWithEscapes_ReachesTheUpstreamWhole()
    {
        // A stream's body is sent from an array of its own size, copied out of the pooled buffer it was written in (issue 26,
        // memory per open stream). A prompt long enough to grow that buffer, with text the JSON writer escapes, arrives intact.
        var prompt = string.Concat(Enumerable.Repeat("Policy \"§4\" — naïve café 🚀\n<tag> & \\ back; ", 120));
        var request = ProviderTestHost.Chat(new ChatMessage("system", prompt), new ChatMessage("user", "Hello?"));

        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", request), CancellationToken.None));

        Assert.Equal("Hello from the mock.", transcript.Text);
        var messages = _server.LastRequest.Json.GetProperty("messages");
        Assert.Equal(prompt, messages[0].GetProperty("content").GetString());
        Assert.Equal("Hello?", messages[1].GetProperty("content").GetString());
    }

    [Fact]
    public async Task Complete_ToolsChoiceAndJsonSchema_SendsTheDocumentedShape()
    {
        var request = Hello with
        {
            Tools = [new ToolDefinition("get_weather", "Current weather", ProviderTestHost.Json("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""))],
            ToolChoice = ProviderTestHost.Json("""{"type":"function","function":{"name":"get_weather"}}"""),
            ResponseFormat = new ResponseFormat("json_schema", "answer", ProviderTestHost.Json("""{"type":"object","properties":{"a":{"type":"string"}}}"""), Strict: true),
            Temperature = 0.2,
            Stop = ["END"],
            Seed = 7,
        };
        _server.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", null, 50, 20, finishReason: "tool_calls",
            toolCalls: [("call_1", "get_weather", """{"city":"Paris"}""")])));

        var response = await Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", request), CancellationToken.None);

        var body = _server.LastRequest.Json;
        Assert.False(body.TryGetProperty("stream", out _));
        var function = body.GetProperty("tools")[0];
        Assert.Equal("function", function.GetProperty("type").GetString());
        Assert.Equal("get_weather", function.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("city", function.GetProperty("function").GetProperty("parameters").GetProperty("required")[0].GetString());
        Assert.Equal("get_weather", body.GetProperty("tool_choice").GetProperty("function").GetProperty("name").GetString());
        var format = body.GetProperty("response_format");
        Assert.Equal("json_schema", format.GetProperty("type").GetString());
        Assert.Equal("answer", format.GetProperty("json_schema").GetProperty("name").GetString());
        Assert.True(format.GetProperty("json_schema").GetProperty("strict").GetBoolean());
        Assert.Equal("object", format.GetProperty("json_schema").GetProperty("schema").GetProperty("type").GetString());
        Assert.Equal(0.2, body.GetProperty("temperature").GetDouble());
        Assert.Equal("END", body.GetProperty("stop")[0].GetString());
        Assert.Equal(7, body.GetProperty("seed").GetInt32());
        Assert.Equal("tool_calls", response.FinishReason);
        var call = Assert.Single(response.ToolCalls);
        Assert.Equal(new ToolCall("call_1", "get_weather", """{"city":"Paris"}"""), call);
    }

    [Fact]
    public async Task Complete_PenaltiesEffortAndParallelToolCalls_AreSentUnderOpenAisNames()
    {
        var request = Hello with
        {
            Tools = [new ToolDefinition("lookup", null, null)],
            FrequencyPenalty = 0.25,
            PresencePenalty = -1.5,
            ReasoningEffort = "low",
            ParallelToolCalls = false,
        };
        _server.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "ok", 5, 1)));

        await Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", request), CancellationToken.None);

        var body = _server.LastRequest.Json;
        Assert.Equal(0.25, body.GetProperty("frequency_penalty").GetDouble());
        Assert.Equal(-1.5, body.GetProperty("presence_penalty").GetDouble());
        Assert.Equal("low", body.GetProperty("reasoning_effort").GetString());
        Assert.False(body.GetProperty("parallel_tool_calls").GetBoolean());
    }

    [Fact]
    public async Task Complete_ParallelToolCallsWithoutTools_IsLeftOut()
    {
        // OpenAI answers 400 to parallel_tool_calls on a request without tools.
        _server.Enqueue(MockReply.Json(200, MockOpenAiServer.ChatCompletion("gpt-4o-mini", "ok", 5, 1)));

        await Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello with { ParallelToolCalls = true }), CancellationToken.None);

        var body = _server.LastRequest.Json;
        Assert.False(body.TryGetProperty("parallel_tool_calls", out _));
        Assert.False(body.TryGetProperty("frequency_penalty", out _));
        Assert.False(body.TryGetProperty("reasoning_effort", out _));
    }

    [Fact]
    public async Task Complete_AssistantToolCallAndToolResult_AreSentInOpenAiShape()
    {
        var request = ProviderTestHost.Chat(
            new ChatMessage("user", "Weather in Paris?"),
            new ChatMessage("assistant", null, [new ToolCall("call_9", "get_weather", """{"city":"Paris"}""")]),
            new ChatMessage("tool", "18 °C, sunny", ToolCallId: "call_9"));

        await Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", request), CancellationToken.None);

        var messages = _server.LastRequest.Json.GetProperty("messages");
        Assert.Equal(JsonValueKind.Null, messages[1].GetProperty("content").ValueKind);
        Assert.Equal("call_9", messages[1].GetProperty("tool_calls")[0].GetProperty("id").GetString());
        Assert.Equal("""{"city":"Paris"}""", messages[1].GetProperty("tool_calls")[0].GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal("call_9", messages[2].GetProperty("tool_call_id").GetString());
    }

    [Fact]
    public async Task Stream_ToolCallChunks_YieldIdNameThenArgumentFragments()
    {
        _server.Enqueue(MockReply.Sse(MockOpenAiServer.ToolCallStreamEvents("gpt-4o-mini", "call_7", "lookup", ["{\"q\":", "\"refunds\"}"], 40, 12)));

        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None));

        var first = transcript.Events.OfType<ProviderToolCallDelta>().First();
        Assert.Equal(("call_7", "lookup"), (first.Id, first.Name));
        Assert.Equal("{\"q\":\"refunds\"}", transcript.Arguments(0));
        Assert.Equal("tool_calls", transcript.Finish);
        Assert.Equal(new Usage(40, 12), transcript.Usage);
    }

    [Fact]
    public async Task Complete_ApiOpenAiHost_UsesMaxCompletionTokens()
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:o:Kind"] = "openai",
            ["Gateway:Providers:o:BaseUrl"] = _server.BaseUrl.ToString(),
            ["Gateway:Providers:o:MaxTokensParameter"] = "max_completion_tokens",
        });

        await host.Provider("o").CompleteAsync(ProviderTestHost.For("gpt-5", Hello, maxTokens: 300), CancellationToken.None);

        var body = _server.LastRequest.Json;
        Assert.Equal(300, body.GetProperty("max_completion_tokens").GetInt32());
        Assert.False(body.TryGetProperty("max_tokens", out _));
        Assert.Null(_server.LastRequest.Header("Authorization"));
    }

    [Theory]
    [InlineData("https://api.openai.com/v1/", "max_completion_tokens")]
    [InlineData("https://acme.openai.azure.com/openai/v1/", "max_completion_tokens")]
    [InlineData("http://localhost:11434/v1/", "max_tokens")]
    [InlineData("https://openrouter.ai/api/v1/", "max_tokens")]
    public void DefaultMaxTokensParameter_ByHost_PicksTheFieldTheServerKnows(string baseUrl, string expected)
    {
        Assert.Equal(expected, Keystone.Gateway.Providers.OpenAi.OpenAiProvider.DefaultMaxTokensParameter(new Uri(baseUrl)));
    }

    [Fact]
    public async Task Stream_ServerIgnoresIncludeUsage_EndsWithFinishAndNoUsage()
    {
        _server.Enqueue(MockReply.Sse(MockOpenAiServer.StreamEvents("llama3", ["Hi"], 10, 1, includeUsage: false)));

        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("llama3", Hello), CancellationToken.None));

        Assert.Equal("Hi", transcript.Text);
        Assert.IsType<ProviderFinish>(transcript.Events[^1]);
        Assert.Null(transcript.Usage);
    }

    [Fact]
    public async Task Complete_ByokCredentials_OverrideKeyAndBaseUrl()
    {
        await using var tenantServer = await MockOpenAiServer.StartAsync();
        var credentials = new ProviderCredentials("sk-tenant-own-key-987", tenantServer.BaseUrl);

        await Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello, credentials: credentials), CancellationToken.None);
        await Provider.EmbedAsync("text-embedding-3-small", ["a"], null, credentials, CancellationToken.None);

        Assert.Empty(_server.Requests);
        Assert.Equal(2, tenantServer.Requests.Count);
        Assert.All(tenantServer.Requests, r => Assert.Equal("Bearer sk-tenant-own-key-987", r.Header("Authorization")));
    }

    [Fact]
    public async Task Complete_AzureStyleKeyHeader_SendsApiKeyHeader()
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:azure:Kind"] = "OpenAI",
            ["Gateway:Providers:azure:BaseUrl"] = _server.BaseUrl.ToString(),
            ["Gateway:Providers:azure:ApiKey"] = "azure-key-1234",
            ["Gateway:Providers:azure:ApiKeyHeader"] = "api-key",
        });

        await host.Provider("azure").CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None);

        Assert.Equal("azure-key-1234", _server.LastRequest.Header("api-key"));
        Assert.Null(_server.LastRequest.Header("Authorization"));
    }

    [Fact]
    public async Task Complete_429WithRetryAfterMs_IsRetryableWithRetryAfter()
    {
        _server.Enqueue(MockReply.Json(429, MockOpenAiServer.Error("Rate limit reached", "requests", "rate_limit_exceeded"))
            .WithHeader("retry-after-ms", "1500").WithHeader("Retry-After", "2"));

        var ex = await Assert.ThrowsAsync<ProviderException>(() => Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None));

        Assert.Equal(429, ex.StatusCode);
        Assert.True(ex.IsRetryable);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), ex.RetryAfter);
        Assert.Contains("Rate limit reached", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_429WithRetryAfterSeconds_ReadsRetryAfter()
    {
        _server.Enqueue(MockReply.Json(429, MockOpenAiServer.Error("slow down")).WithHeader("Retry-After", "3"));

        var ex = await Assert.ThrowsAsync<ProviderException>(() => Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None));

        Assert.Equal(TimeSpan.FromSeconds(3), ex.RetryAfter);
    }

    [Theory]
    [InlineData(500, true)]
    [InlineData(503, true)]
    [InlineData(408, true)]
    [InlineData(400, false)]
    [InlineData(404, false)]
    public async Task Complete_UpstreamStatus_IsClassified(int status, bool retryable)
    {
        _server.Enqueue(MockReply.Json(status, MockOpenAiServer.Error("upstream said no")));

        var ex = await Assert.ThrowsAsync<ProviderException>(() => Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None));

        Assert.Equal(status, ex.StatusCode);
        Assert.Equal(retryable, ex.IsRetryable);
    }

    [Fact]
    public async Task Complete_401EchoingTheKey_DoesNotPutTheKeyInTheMessage()
    {
        _server.Enqueue(MockReply.Json(401, MockOpenAiServer.Error($"Incorrect API key provided: {PlatformKey}.", "invalid_request_error", "invalid_api_key")));

        var ex = await Assert.ThrowsAsync<ProviderException>(() => Provider.CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None));

        Assert.False(ex.IsRetryable);
        Assert.DoesNotContain(PlatformKey, ex.ToString(), StringComparison.Ordinal);
        Assert.Contains("Incorrect API key provided", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_ErrorStatusBeforeAnyEvent_ThrowsFromFirstMoveNext()
    {
        _server.Enqueue(MockReply.Json(503, MockOpenAiServer.Error("overloaded")));
        await using var enumerator = Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None).GetAsyncEnumerator();

        var ex = await Assert.ThrowsAsync<ProviderException>(async () => await enumerator.MoveNextAsync());

        Assert.Equal(503, ex.StatusCode);
        Assert.True(ex.IsRetryable);
    }

    [Fact]
    public async Task Stream_ConnectionCutAfterSomeChunks_ThrowsAfterTheDeltas()
    {
        _server.Enqueue(MockReply.Sse(MockOpenAiServer.StreamEvents("gpt-4o-mini", ["a", "b", "c", "d"], 10, 4), cutAfter: 3));
        var received = new List<ProviderStreamEvent>();

        var ex = await Assert.ThrowsAsync<ProviderException>(async () =>
        {
            await foreach (var e in Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None))
            {
                received.Add(e);
            }
        });

        Assert.True(ex.IsRetryable);
        Assert.Equal("ab", string.Concat(received.OfType<ProviderTextDelta>().Select(d => d.Text)));
        Assert.DoesNotContain(received, e => e is ProviderFinish);
    }

    [Fact]
    public async Task Stream_ErrorObjectMidStream_ThrowsClassifiedException()
    {
        var events = MockOpenAiServer.StreamEvents("gpt-4o-mini", ["a"], 10, 1).Take(2)
            .Append("data: " + MockOpenAiServer.Error("The server had an error while processing your request.")).ToList();
        _server.Enqueue(MockReply.Sse(events));

        var ex = await Assert.ThrowsAsync<ProviderException>(() => ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None)));

        Assert.True(ex.IsRetryable);
        Assert.Contains("while processing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_UpstreamHangs_TimesOutAsRetryable()
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:slow:Kind"] = "OpenAI",
            ["Gateway:Providers:slow:BaseUrl"] = _server.BaseUrl.ToString(),
            ["Gateway:Providers:slow:TimeoutSeconds"] = "1",
        });
        _server.Enqueue(MockReply.Hang());

        var ex = await Assert.ThrowsAsync<ProviderException>(() => host.Provider("slow").CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None));

        Assert.True(ex.IsRetryable);
        Assert.Equal(408, ex.StatusCode);
    }

    [Fact]
    public async Task Complete_ConnectionRefused_IsRetryable()
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:down:Kind"] = "OpenAI",
            ["Gateway:Providers:down:BaseUrl"] = "http://127.0.0.1:9/v1/",
        });

        var ex = await Assert.ThrowsAsync<ProviderException>(() => host.Provider("down").CompleteAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None));

        Assert.True(ex.IsRetryable);
        Assert.Null(ex.StatusCode);
    }

    [Fact]
    public async Task Stream_UpstreamGoesSilentMidStream_FailsAfterTheIdleTimeout()
    {
        await using var host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:quiet:Kind"] = "OpenAI",
            ["Gateway:Providers:quiet:BaseUrl"] = _server.BaseUrl.ToString(),
            ["Gateway:Providers:quiet:StreamIdleTimeoutSeconds"] = "1",
        });
        _server.Enqueue(MockReply.Sse(MockOpenAiServer.StreamEvents("gpt-4o-mini", ["a", "b"], 10, 2), betweenEvents: TimeSpan.FromSeconds(30)));
        var received = new List<ProviderStreamEvent>();

        var ex = await Assert.ThrowsAsync<ProviderException>(async () =>
        {
            await foreach (var e in host.Provider("quiet").StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None))
            {
                received.Add(e);
            }
        });

        Assert.True(ex.IsRetryable);
        Assert.Contains("sent nothing", ex.Message, StringComparison.Ordinal);
        Assert.Empty(received.OfType<ProviderTextDelta>());
    }

    [Fact]
    public async Task Stream_ConnectionResetBeforeHeaders_ThrowsRetryableFromFirstMoveNext()
    {
        _server.Enqueue(MockReply.Reset());
        await using var enumerator = Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello), CancellationToken.None).GetAsyncEnumerator();

        var ex = await Assert.ThrowsAsync<ProviderException>(async () => await enumerator.MoveNextAsync());

        Assert.True(ex.IsRetryable);
        Assert.Null(ex.StatusCode);
    }

    [Fact]
    public async Task Stream_CallerCancels_AbortsTheUpstreamRequest()
    {
        var events = MockOpenAiServer.StreamEvents("gpt-4o-mini", Enumerable.Repeat("x", 1000).ToList(), 10, 1000);
        _server.Enqueue(MockReply.Sse(events, betweenEvents: TimeSpan.FromMilliseconds(20)));
        using var cts = new CancellationTokenSource();
        var received = 0;
        var watch = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var e in Provider.StreamAsync(ProviderTestHost.For("gpt-4o-mini", Hello), cts.Token))
            {
                if (e is ProviderTextDelta && ++received == 3)
                {
                    await cts.CancelAsync();
                }
            }
        });

        // 1,000 chunks 20 ms apart would take 20 s: stopping within a few seconds proves the upstream read was abandoned.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        // One already-parsed event may still be handed out before the cancellation is observed; never the rest.
        Assert.InRange(received, 3, 4);
    }

    [Fact]
    public async Task Embed_Inputs_ReturnsVectorsInOrderWithUsage()
    {
        _server.Enqueue(MockReply.Json(200, MockOpenAiServer.Embeddings("text-embedding-3-small", [[1f, 0f], [0f, 1f]], 9)));

        var result = await Provider.EmbedAsync("text-embedding-3-small", ["first", "second"], 2, null, CancellationToken.None);

        var body = _server.LastRequest.Json;
        Assert.Equal("/v1/embeddings", _server.LastRequest.Path);
        Assert.Equal(2, body.GetProperty("dimensions").GetInt32());
        Assert.Equal("second", body.GetProperty("input")[1].GetString());
        Assert.Equal([1f, 0f], result.Vectors[0]);
        Assert.Equal([0f, 1f], result.Vectors[1]);
        Assert.Equal(new Usage(9, 0), result.Usage);
    }
}
