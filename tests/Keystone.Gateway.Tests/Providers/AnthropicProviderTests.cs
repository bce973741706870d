using System.Text.Json;
using Keystone.Gateway.Pricing;
using Keystone.Testing.Upstreams;

namespace Keystone.Gateway.Tests.Providers;

public sealed class AnthropicProviderTests : IAsyncLifetime
{
    private const string PlatformKey = "sk-ant-platform-test-0123456789";
    private MockAnthropicServer _server = null!;
    private ProviderTestHost _host = null!;

    // claude-sonnet-4-5 list price: input $3, output $15, cache read $0.30, 5m cache write $3.75, 1h write $6 per 1M tokens.
    private static readonly PriceRow Sonnet = new("anthropic", "claude-sonnet-4-5", DateTime.UnixEpoch, 3_000_000, 15_000_000, 300_000, 3_750_000, 6_000_000, 50, "test");

    public async Task InitializeAsync()
    {
        _server = await MockAnthropicServer.StartAsync();
        _host = new ProviderTestHost(new Dictionary<string, string?>
        {
            ["Gateway:Providers:anthropic:Kind"] = "Anthropic",
            ["Gateway:Providers:anthropic:BaseUrl"] = _server.BaseUrl.ToString(),
            ["Gateway:Providers:anthropic:ApiKey"] = PlatformKey,
            ["Gateway:Providers:anthropic:TimeoutSeconds"] = "5",
        });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _server.DisposeAsync();
    }

    private IModelProvider Provider => _host.Provider("anthropic");

    private static ChatRequest Hello => ProviderTestHost.Chat(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hello?"));

    /// <summary>About 3,000 o200k tokens of stable instructions: over Sonnet's 1,024 minimum, under Haiku 4.5's 4,096.</summary>
    private static string LongSystemPrompt => string.Join(' ', Enumerable.Range(0, 250).Select(i => $"Rule {i}: answer politely and cite the policy."));

    [Fact]
    public async Task Complete_UpstreamRedirects_FailsWithoutSendingTheKeyElsewhere()
    {
        // .NET drops Authorization on a redirect but keeps custom headers such as x-api-key: a followed redirect
        // would hand the platform key to whatever host the Location names.
        await using var elsewhere = await MockAnthropicServer.StartAsync();
        elsewhere.Enqueue(MockReply.Json(200, MockAnthropicServer.Message("claude-sonnet-4-5-20250929", "from elsewhere", inputTokens: 1, outputTokens: 1)));
        _server.Enqueue(MockReply.Json(307, "{}").WithHeader("Location", new Uri(elsewhere.BaseUrl, "messages").ToString()));

        var error = await Assert.ThrowsAsync<ProviderException>(() => Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None));

        Assert.Equal(307, error.StatusCode);
        Assert.Empty(elsewhere.Requests);
    }

    [Fact]
    public async Task Complete_InsideATrace_SendsNoTraceContextToTheProvider()
    {
        // ASP.NET Core starts an activity per request; by default HttpClient would pass its W3C trace id to the
        // provider in traceparent. Keystone's trace ids are internal and stay out of third-party requests.
        _server.Enqueue(MockReply.Json(200, MockAnthropicServer.Message("claude-sonnet-4-5-20250929", "Hi.", inputTokens: 1, outputTokens: 1)));
        using var activity = new System.Diagnostics.Activity("request").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start();

        await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None);

        var headers = Assert.Single(_server.Requests).Headers;
        Assert.True(headers.ContainsKey("x-api-key"));
        Assert.False(headers.ContainsKey("traceparent"));
        Assert.False(headers.ContainsKey("tracestate"));
        Assert.False(headers.ContainsKey("request-id"));
    }

    [Fact]
    public async Task Complete_WithoutCache_ReportsUsageAndGoldenCost()
    {
        _server.Enqueue(MockReply.Json(200, MockAnthropicServer.Message("claude-sonnet-4-5-20250929", "Hi there.", inputTokens: 1500, outputTokens: 300)));

        var response = await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None);
        var cost = PriceBook.Calculate(Sonnet, response.Usage);

        Assert.Equal("Hi there.", response.Text);
        Assert.Equal("stop", response.FinishReason);
        Assert.Equal(new Usage(1500, 300), response.Usage);
        // 1,500 × 3,000,000 + 300 × 15,000,000 = 4,500,000,000 + 4,500,000,000 = 9,000,000,000 / 1e6 = 9,000.
        Assert.Equal(9000, cost.CostMicros);
    }

    [Fact]
    public async Task Complete_WithCacheReadAndWrite_AddsThemToInputAndGoldenCost()
    {
        _server.Enqueue(MockReply.Json(200, MockAnthropicServer.Message("claude-sonnet-4-5", "Hi.", inputTokens: 50, outputTokens: 300,
            cacheReadTokens: 2000, cacheWriteTokens: 1200)));

        var response = await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None);
        var cost = PriceBook.Calculate(Sonnet, response.Usage);

        // Anthropic's input_tokens (50) excludes cache reads and writes; ours is the total 50 + 2,000 + 1,200 = 3,250.
        Assert.Equal(new Usage(3250, 300, CachedInputTokens: 2000, CacheWriteTokens: 1200), response.Usage);
        // 50 × 3,000,000 + 2,000 × 300,000 + 1,200 × 3,750,000 + 300 × 15,000,000
        // = 150,000,000 + 600,000,000 + 4,500,000,000 + 4,500,000,000 = 9,750,000,000 / 1e6 = 9,750.
        Assert.Equal(9750, cost.CostMicros);
    }

    [Fact]
    public async Task Stream_WithoutCache_YieldsOnlyTextDeltasThenFinishAndMergedUsage()
    {
        _server.Enqueue(MockReply.Sse(MockAnthropicServer.StreamEvents("claude-sonnet-4-5", ["Hel", "lo"], inputTokens: 1500, outputTokens: 300)));

        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None));
        var cost = PriceBook.Calculate(Sonnet, transcript.Usage!);

        Assert.Equal("Hello", transcript.Text);
        Assert.Equal("stop", transcript.Finish);
        // message_start said output 1; message_delta's cumulative 300 wins; input stays from message_start.
        Assert.Equal(new Usage(1500, 300), transcript.Usage);
        Assert.Equal(9000, cost.CostMicros);
    }

    [Fact]
    public async Task Stream_WithCacheReadAndWrite_ReadsCacheFieldsFromMessageStartAndGoldenCost()
    {
        _server.Enqueue(MockReply.Sse(MockAnthropicServer.StreamEvents("claude-sonnet-4-5", ["Hi"], inputTokens: 50, outputTokens: 300,
            cacheReadTokens: 2000, cacheWriteTokens: 1200)));

        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None));
        var cost = PriceBook.Calculate(Sonnet, transcript.Usage!);

        Assert.Equal(new Usage(3250, 300, CachedInputTokens: 2000, CacheWriteTokens: 1200), transcript.Usage);
        Assert.Equal(9750, cost.CostMicros);
    }

    [Fact]
    public async Task Complete_Request_SendsHeadersSystemBlocksAndMaxTokens()
    {
        await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello, maxTokens: 99), CancellationToken.None);

        var request = _server.LastRequest;
        var body = request.Json;
        Assert.Equal("/v1/messages", request.Path);
        Assert.Equal(PlatformKey, request.Header("x-api-key"));
        Assert.Equal("2023-06-01", request.Header("anthropic-version"));
        Assert.Null(request.Header("Authorization"));
        Assert.Equal(99, body.GetProperty("max_tokens").GetInt32());
        Assert.Equal("Be brief.", body.GetProperty("system")[0].GetProperty("text").GetString());
        var messages = body.GetProperty("messages");
        Assert.Equal(1, messages.GetArrayLength());
        Assert.Equal("user", messages[0].GetProperty("role").GetString());
        Assert.Equal("Hello?", messages[0].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.False(body.GetProperty("system")[0].TryGetProperty("cache_control", out _));
    }

    [Fact]
    public async Task Complete_LongSystemPromptOnSonnet_PutsCacheControlOnTheLastSystemBlockOnly()
    {
        var request = ProviderTestHost.Chat(new ChatMessage("system", "You are Acme's support bot."), new ChatMessage("system", LongSystemPrompt),
            new ChatMessage("user", "Where is my order?"));

        await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", request), CancellationToken.None);

        var body = _server.LastRequest.Json;
        var system = body.GetProperty("system");
        Assert.False(system[0].TryGetProperty("cache_control", out _));
        Assert.Equal("ephemeral", system[1].GetProperty("cache_control").GetProperty("type").GetString());
        Assert.DoesNotContain("cache_control", body.GetProperty("messages").GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_SamePromptOnHaiku45_StaysUnderItsMinimumAndGetsNoBreakpoint()
    {
        var request = ProviderTestHost.Chat(new ChatMessage("system", LongSystemPrompt), new ChatMessage("user", "Where is my order?"));

        await Provider.CompleteAsync(ProviderTestHost.For("claude-haiku-4-5", request), CancellationToken.None);

        Assert.DoesNotContain("cache_control", _server.LastRequest.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_LongToolListWithoutSystem_PutsCacheControlOnTheLastTool()
    {
        var schema = ProviderTestHost.Json("""{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}""");
        var tools = Enumerable.Range(0, 60).Select(i => new ToolDefinition($"tool_{i}", LongSystemPrompt[..400], schema)).ToList();
        var request = ProviderTestHost.Chat(new ChatMessage("user", "Find it.")) with { Tools = tools };

        await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", request), CancellationToken.None);

        var sent = _server.LastRequest.Json.GetProperty("tools");
        Assert.Equal(60, sent.GetArrayLength());
        Assert.True(sent[59].TryGetProperty("cache_control", out _));
        Assert.Equal(1, _server.LastRequest.Body.Split("cache_control").Length - 1);
    }

    [Fact]
    public async Task Complete_ToolsAndToolConversation_MapToAnthropicShapes()
    {
        var schema = ProviderTestHost.Json("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""");
        var request = ProviderTestHost.Chat(
            new ChatMessage("user", "Weather in Paris?"),
            new ChatMessage("assistant", "Let me check.", [new ToolCall("toolu_1", "get_weather", """{"city":"Paris"}""")]),
            new ChatMessage("tool", "18 °C", ToolCallId: "toolu_1"),
            new ChatMessage("user", "And tomorrow?")) with
        {
            Tools = [new ToolDefinition("get_weather", "Weather now", schema)],
            ToolChoice = ProviderTestHost.Json("\"required\""),
        };
        _server.Enqueue(MockReply.Json(200, MockAnthropicServer.Message("claude-sonnet-4-5", "Checking.", 100, 30, stopReason: "tool_use",
            toolUses: [("toolu_2", "get_weather", """{"city":"Paris","day":"tomorrow"}""")])));

        var response = await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", request), CancellationToken.None);

        var body = _server.LastRequest.Json;
        Assert.Equal("get_weather", body.GetProperty("tools")[0].GetProperty("name").GetString());
        Assert.Equal("object", body.GetProperty("tools")[0].GetProperty("input_schema").GetProperty("type").GetString());
        Assert.Equal("any", body.GetProperty("tool_choice").GetProperty("type").GetString());
        var messages = body.GetProperty("messages");
        Assert.Equal(3, messages.GetArrayLength());
        var toolUse = messages[1].GetProperty("content")[1];
        Assert.Equal("tool_use", toolUse.GetProperty("type").GetString());
        Assert.Equal("Paris", toolUse.GetProperty("input").GetProperty("city").GetString());
        var userTurn = messages[2].GetProperty("content");
        Assert.Equal("tool_result", userTurn[0].GetProperty("type").GetString());
        Assert.Equal("toolu_1", userTurn[0].GetProperty("tool_use_id").GetString());
        Assert.Equal("And tomorrow?", userTurn[1].GetProperty("text").GetString());
        Assert.Equal("tool_calls", response.FinishReason);
        Assert.Equal("Checking.", response.Text);
        var call = Assert.Single(response.ToolCalls);
        Assert.Equal("toolu_2", call.Id);
        Assert.Equal("tomorrow", JsonDocument.Parse(call.ArgumentsJson).RootElement.GetProperty("day").GetString());
    }

    [Theory]
    [InlineData(null, "auto", null)]
    [InlineData("\"required\"", "any", null)]
    [InlineData("{\"type\":\"function\",\"function\":{\"name\":\"lookup\"}}", "tool", "lookup")]
    public async Task Complete_ParallelToolCallsFalse_DisablesParallelToolUseOnTheToolChoice(string? choice, string type, string? name)
    {
        var request = Hello with
        {
            Tools = [new ToolDefinition("lookup", null, null)],
            ToolChoice = choice is null ? null : ProviderTestHost.Json(choice),
            ParallelToolCalls = false,
            FrequencyPenalty = 0.5,
            PresencePenalty = -0.5,
            ReasoningEffort = "high",
        };

        await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", request), CancellationToken.None);

        var body = _server.LastRequest.Json;
        var toolChoice = body.GetProperty("tool_choice");
        Assert.Equal(type, toolChoice.GetProperty("type").GetString());
        Assert.Equal(name, toolChoice.TryGetProperty("name", out var n) ? n.GetString() : null);
        Assert.True(toolChoice.GetProperty("disable_parallel_tool_use").GetBoolean());
        // Anthropic has no penalties and takes a thinking budget, not an effort: none of them may reach it.
        Assert.False(body.TryGetProperty("frequency_penalty", out _));
        Assert.False(body.TryGetProperty("presence_penalty", out _));
        Assert.False(body.TryGetProperty("reasoning_effort", out _));
    }

    [Fact]
    public async Task Complete_ParallelToolCallsNotFalse_LeavesToolChoiceAsItWas()
    {
        await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello with
        {
            Tools = [new ToolDefinition("lookup", null, null)],
            ParallelToolCalls = true,
        }), CancellationToken.None);

        Assert.False(_server.LastRequest.Json.TryGetProperty("tool_choice", out _));
    }

    [Fact]
    public async Task Complete_ToolChoiceNone_KeepsTheToolsAndSendsNone()
    {
        var request = Hello with
        {
            Tools = [new ToolDefinition("lookup", null, null)],
            ToolChoice = ProviderTestHost.Json("\"none\""),
            ParallelToolCalls = false,
        };

        await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", request), CancellationToken.None);

        var body = _server.LastRequest.Json;
        Assert.Equal("lookup", body.GetProperty("tools")[0].GetProperty("name").GetString());
        Assert.Equal("object", body.GetProperty("tools")[0].GetProperty("input_schema").GetProperty("type").GetString());
        Assert.Equal("none", body.GetProperty("tool_choice").GetProperty("type").GetString());
        Assert.False(body.GetProperty("tool_choice").TryGetProperty("disable_parallel_tool_use", out _));
    }

    [Fact]
    public async Task Stream_MessageDeltaWithCumulativeInputAndOneHourWrites_OverridesMessageStartUsage()
    {
        var events = MockAnthropicServer.StreamEvents("claude-sonnet-4-5", ["Hi"], inputTokens: 40, outputTokens: 1).ToList();
        var delta = events.FindIndex(e => e.StartsWith("event: message_delta", StringComparison.Ordinal));
        events[delta] = "event: message_delta\ndata: " + JsonSerializer.Serialize(new
        {
            type = "message_delta",
            delta = new { stop_reason = "max_tokens", stop_sequence = (string?)null },
            usage = new
            {
                input_tokens = 40, cache_read_input_tokens = 100, cache_creation_input_tokens = 600, output_tokens = 256,
                cache_creation = new { ephemeral_5m_input_tokens = 200, ephemeral_1h_input_tokens = 400 },
            },
        });
        _server.Enqueue(MockReply.Sse(events));

        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None));
        var cost = PriceBook.Calculate(Sonnet, transcript.Usage!);

        Assert.Equal("length", transcript.Finish);
        // 40 uncached + 100 read + 200 (5m) + 400 (1h) = 740 input tokens.
        Assert.Equal(new Usage(740, 256, CachedInputTokens: 100, CacheWriteTokens: 200, CacheWrite1hTokens: 400), transcript.Usage);
        // 40 × 3,000,000 + 100 × 300,000 + 200 × 3,750,000 + 400 × 6,000,000 + 256 × 15,000,000
        // = 120,000,000 + 30,000,000 + 750,000,000 + 2,400,000,000 + 3,840,000,000 = 7,140,000,000 / 1e6 = 7,140.
        Assert.Equal(7140, cost.CostMicros);
    }

    [Fact]
    public async Task Stream_ToolUse_MapsToToolCallDeltasAndIgnoresNonTextBlocks()
    {
        _server.Enqueue(MockReply.Sse(MockAnthropicServer.ToolUseStreamEvents("claude-sonnet-4-5", "Looking.", "toolu_5", "search", ["{\"q\":", "\"refund\"}"], 80, 25)));

        var transcript = await ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None));

        var start = transcript.Events.OfType<ProviderToolCallDelta>().First();
        Assert.Equal((0, "toolu_5", "search"), (start.Index, start.Id, start.Name));
        Assert.Equal("{\"q\":\"refund\"}", transcript.Arguments(0));
        Assert.Equal("Looking.", transcript.Text);
        Assert.Equal("tool_calls", transcript.Finish);
        Assert.Equal(new Usage(80, 25), transcript.Usage);
    }

    [Fact]
    public async Task Stream_ErrorEventAfterText_ThrowsRetryableOverloaded()
    {
        var events = MockAnthropicServer.StreamEvents("claude-sonnet-4-5", ["a", "b"], 10, 2).Take(5)
            .Append(MockAnthropicServer.ErrorEvent("overloaded_error", "Overloaded")).ToList();
        _server.Enqueue(MockReply.Sse(events));
        var received = new List<ProviderStreamEvent>();

        var ex = await Assert.ThrowsAsync<ProviderException>(async () =>
        {
            await foreach (var e in Provider.StreamAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None))
            {
                received.Add(e);
            }
        });

        Assert.Equal(529, ex.StatusCode);
        Assert.True(ex.IsRetryable);
        Assert.Equal("ab", string.Concat(received.OfType<ProviderTextDelta>().Select(t => t.Text)));
    }

    [Fact]
    public async Task Stream_ErrorStatusBeforeAnyEvent_ThrowsFromFirstMoveNext()
    {
        _server.Enqueue(MockReply.Json(529, MockAnthropicServer.Error("overloaded_error", "Overloaded")).WithHeader("retry-after", "4"));
        await using var enumerator = Provider.StreamAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None).GetAsyncEnumerator();

        var ex = await Assert.ThrowsAsync<ProviderException>(async () => await enumerator.MoveNextAsync());

        Assert.Equal(529, ex.StatusCode);
        Assert.True(ex.IsRetryable);
        Assert.Equal(TimeSpan.FromSeconds(4), ex.RetryAfter);
        Assert.Contains("overloaded_error", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_EndsWithoutMessageStop_ThrowsRetryable()
    {
        var events = MockAnthropicServer.StreamEvents("claude-sonnet-4-5", ["a", "b"], 10, 2);
        _server.Enqueue(MockReply.Sse(events.Take(events.Count - 1)));

        var ex = await Assert.ThrowsAsync<ProviderException>(() => ProviderTestHost.DrainAsync(Provider.StreamAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None)));

        Assert.True(ex.IsRetryable);
    }

    [Fact]
    public async Task Complete_InvalidRequest_IsNotRetryable()
    {
        _server.Enqueue(MockReply.Json(400, MockAnthropicServer.Error("invalid_request_error", "max_tokens: must be positive")));

        var ex = await Assert.ThrowsAsync<ProviderException>(() => Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello), CancellationToken.None));

        Assert.Equal(400, ex.StatusCode);
        Assert.False(ex.IsRetryable);
        Assert.Contains("max_tokens", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_ByokCredentials_OverrideKeyAndBaseUrl()
    {
        await using var tenantServer = await MockAnthropicServer.StartAsync();

        await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", Hello, credentials: new ProviderCredentials("sk-ant-tenant-42", tenantServer.BaseUrl)),
            CancellationToken.None);

        Assert.Empty(_server.Requests);
        Assert.Equal("sk-ant-tenant-42", tenantServer.LastRequest.Header("x-api-key"));
    }

    [Fact]
    public async Task Complete_JsonSchemaFormat_BecomesASystemInstruction()
    {
        var request = Hello with { ResponseFormat = new ResponseFormat("json_schema", "a", ProviderTestHost.Json("""{"type":"object","required":["answer"]}""")) };

        await Provider.CompleteAsync(ProviderTestHost.For("claude-sonnet-4-5", request), CancellationToken.None);

        var system = _server.LastRequest.Json.GetProperty("system");
        Assert.Contains("\"required\":[\"answer\"]", system[system.GetArrayLength() - 1].GetProperty("text").GetString(), StringComparison.Ordinal);
    }
}
