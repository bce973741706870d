using System.Text.Json;
using Keystone.Gateway.Pricing;
using Keystone.Gateway.Tokenization;

namespace Keystone.Gateway.Tests.Providers;

public sealed class SimulatedProviderTests : IAsyncLifetime
{
    private ProviderTestHost _host = null!;

    // sim-fast is priced like gpt-4o-mini: input $0.15, cached $0.075, output $0.60 per 1M tokens.
    private static readonly PriceRow SimFast = new("simulated", "sim-fast", DateTime.UnixEpoch, 150_000, 600_000, 75_000, null, null, 0, "test");

    private static TokenCounter Tokens => TokenCounter.Instance;

    public Task InitializeAsync()
    {
        _host = Host();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static ProviderTestHost Host(params (string Key, string Value)[] knobs)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Providers:sim:Kind"] = "Simulated",
            ["Gateway:Providers:sim:TimeoutSeconds"] = "1",
            ["Gateway:Providers:sim:Simulated:TimeToFirstTokenMs"] = "0",
            ["Gateway:Providers:sim:Simulated:TokensPerSecond"] = "0",
        };
        foreach (var (key, value) in knobs)
        {
            settings["Gateway:Providers:sim:Simulated:" + key] = value;
        }

        return new ProviderTestHost(settings);
    }

    private IModelProvider Sim => _host.Provider("sim");

    private static ChatRequest Ask(string question, string? system = null) => system is null
        ? ProviderTestHost.Chat(new ChatMessage("user", question))
        : ProviderTestHost.Chat(new ChatMessage("system", system), new ChatMessage("user", question));

    /// <summary>Long enough (well over 1,024 tokens) to be a cacheable prefix.</summary>
    private static readonly string LongSystem = string.Join(' ', Enumerable.Range(0, 300).Select(i => $"Policy {i}: refunds within thirty days."));

    [Fact]
    public async Task Complete_SameRequestTwice_GivesTheSameAnswer()
    {
        var first = await Sim.CompleteAsync(ProviderTestHost.For("sim-smart", Ask("How should we price our API plans?")), CancellationToken.None);
        var second = await Sim.CompleteAsync(ProviderTestHost.For("sim-smart", Ask("How should we price our API plans?")), CancellationToken.None);
        var other = await Sim.CompleteAsync(ProviderTestHost.For("sim-smart", Ask("What is a good onboarding email?")), CancellationToken.None);

        Assert.Equal(first.Text, second.Text);
        Assert.NotEqual(first.Text, other.Text);
        Assert.Contains("api", first.Text, StringComparison.OrdinalIgnoreCase);
        Assert.True(first.Text.Length > 40);
    }

    [Fact]
    public async Task Complete_DriftConfigured_ChangesTheAnswer()
    {
        await using var drifted = Host(("Drift", "1"));
        var request = ProviderTestHost.For("sim-smart", Ask("Summarize our refund policy for a customer."));

        var normal = await Sim.CompleteAsync(request, CancellationToken.None);
        var changed = await drifted.Provider("sim").CompleteAsync(request, CancellationToken.None);
        var changedAgain = await drifted.Provider("sim").CompleteAsync(request, CancellationToken.None);

        Assert.NotEqual(normal.Text, changed.Text);
        Assert.Equal(changed.Text, changedAgain.Text);
    }

    [Fact]
    public async Task Complete_DriftMarker_ChangesTheAnswer()
    {
        var normal = await Sim.CompleteAsync(ProviderTestHost.For("sim-smart", Ask("Summarize our refund policy.")), CancellationToken.None);
        var drifted = await Sim.CompleteAsync(ProviderTestHost.For("sim-smart", Ask("Summarize our refund policy. [sim:drift=3]")), CancellationToken.None);

        Assert.NotEqual(normal.Text, drifted.Text);
    }

    [Fact]
    public async Task Complete_Usage_IsRealO200kCounts()
    {
        var messages = Ask("Explain prompt caching in two sentences.", system: "You are terse.");

        var response = await Sim.CompleteAsync(ProviderTestHost.For("sim-fast", messages), CancellationToken.None);

        // "Hello, world!" is 4 o200k tokens: "Hello" "," " world" "!".
        Assert.Equal(4, Tokens.Count("Hello, world!"));
        // Chat framing: 3 per message + role + content, plus 3 to prime the reply.
        var expectedInput = 3 + (3 + Tokens.Count("system") + Tokens.Count("You are terse."))
            + (3 + Tokens.Count("user") + Tokens.Count("Explain prompt caching in two sentences."));
        Assert.Equal(expectedInput, response.Usage.InputTokens);
        Assert.Equal(Tokens.Count(response.Text), response.Usage.OutputTokens);
        Assert.Equal(0, response.Usage.CachedInputTokens);
    }

    [Fact]
    public async Task Complete_MaxTokensSmallerThanAnswer_StopsAtTheLimitWithLength()
    {
        var response = await Sim.CompleteAsync(ProviderTestHost.For("sim-smart", Ask("Write a detailed plan for our launch."), maxTokens: 7), CancellationToken.None);

        Assert.Equal("length", response.FinishReason);
        Assert.Equal(7, response.Usage.OutputTokens);
        Assert.Equal(7, Tokens.Count(response.Text));
    }

    [Fact]
    public async Task Complete_ReasoningModel_ReportsReasoningTokensInsideOutputAndWithinMaxTokens()
    {
        var response = await Sim.CompleteAsync(ProviderTestHost.For("sim-reasoning", Ask("Should we raise prices?"), maxTokens: 400), CancellationToken.None);

        Assert.True(response.Usage.ReasoningTokens > 0);
        Assert.Equal(Tokens.Count(response.Text) + response.Usage.ReasoningTokens, response.Usage.OutputTokens);
        Assert.True(response.Usage.OutputTokens <= 400);
    }

    [Fact]
    public async Task Complete_RepeatedLongPrefix_ReportsCachedTokensTheSecondTime()
    {
        var first = await Sim.CompleteAsync(ProviderTestHost.For("sim-fast", Ask("First question?", LongSystem)), CancellationToken.None);
        var second = await Sim.CompleteAsync(ProviderTestHost.For("sim-fast", Ask("A different second question?", LongSystem)), CancellationToken.None);
        var shortPrompt = await Sim.CompleteAsync(ProviderTestHost.For("sim-fast", Ask("Short?", "Short system.")), CancellationToken.None);
        var shortAgain = await Sim.CompleteAsync(ProviderTestHost.For("sim-fast", Ask("Short?", "Short system.")), CancellationToken.None);

        Assert.Equal(0, first.Usage.CachedInputTokens);
        Assert.True(second.Usage.CachedInputTokens >= 1024, $"cached {second.Usage.CachedInputTokens}");
        Assert.True(second.Usage.CachedInputTokens < second.Usage.InputTokens);
        Assert.Equal(0, (second.Usage.CachedInputTokens - 1024) % 128);
        Assert.Equal(0, shortAgain.Usage.CachedInputTokens);
        Assert.Equal(0, shortPrompt.Usage.CachedInputTokens);
    }

    [Fact]
    public async Task CompleteAndStream_WithAndWithoutCachedTokens_GoldenCost()
    {
        var cold = await Sim.CompleteAsync(ProviderTestHost.For("sim-fast", Ask("Cold question?", LongSystem)), CancellationToken.None);
        var warm = await ProviderTestHost.DrainAsync(Sim.StreamAsync(ProviderTestHost.For("sim-fast", Ask("Warm question?", LongSystem)), CancellationToken.None));

        var coldCost = PriceBook.Calculate(SimFast, cold.Usage);
        var warmCost = PriceBook.Calculate(SimFast, warm.Usage!);

        // Cold: every input token at 150,000 and output at 600,000 micro-USD per million, rounded half up once.
        var coldExact = (cold.Usage.InputTokens * 150_000L) + (cold.Usage.OutputTokens * 600_000L);
        Assert.Equal((coldExact + 500_000) / 1_000_000, coldCost.CostMicros);
        // Warm: the cached prefix at 75,000, the rest of the input at 150,000.
        var w = warm.Usage!;
        Assert.True(w.CachedInputTokens > 0);
        var warmExact = ((w.InputTokens - w.CachedInputTokens) * 150_000L) + (w.CachedInputTokens * 75_000L) + (w.OutputTokens * 600_000L);
        Assert.Equal((warmExact + 500_000) / 1_000_000, warmCost.CostMicros);
        Assert.True(warmCost.CostMicros < (((w.InputTokens * 150_000L) + (w.OutputTokens * 600_000L) + 500_000) / 1_000_000));
    }

    [Fact]
    public async Task Stream_Text_EqualsTheCompleteAnswerWithOneDeltaPerToken()
    {
        var request = ProviderTestHost.For("sim-smart", Ask("Give me an example function for trimming input."));

        var complete = await Sim.CompleteAsync(request, CancellationToken.None);
        var stream = await ProviderTestHost.DrainAsync(Sim.StreamAsync(request, CancellationToken.None));

        Assert.Equal(complete.Text, stream.Text);
        Assert.Contains("```", stream.Text, StringComparison.Ordinal);
        Assert.Equal(complete.Usage.OutputTokens, stream.Events.OfType<ProviderTextDelta>().Count());
        Assert.Equal(complete.Usage with { CachedInputTokens = stream.Usage!.CachedInputTokens }, stream.Usage);
        Assert.Equal("stop", stream.Finish);
    }

    [Fact]
    public async Task Complete_ToolsRequired_CallsAToolWithSchemaValidArguments()
    {
        var schema = ProviderTestHost.Json("""
            {"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":3}},
             "required":["city","unit","days"]}
            """);
        var request = Ask("What's the weather in Lyon?") with
        {
            Tools = [new ToolDefinition("get_weather", "Weather forecast", schema)],
            ToolChoice = ProviderTestHost.Json("\"required\""),
        };

        var response = await Sim.CompleteAsync(ProviderTestHost.For("sim-smart", request), CancellationToken.None);

        Assert.Equal("tool_calls", response.FinishReason);
        var call = Assert.Single(response.ToolCalls);
        Assert.Equal("get_weather", call.Name);
        Assert.StartsWith("call_", call.Id, StringComparison.Ordinal);
        var args = JsonDocument.Parse(call.ArgumentsJson).RootElement;
        Assert.Equal(JsonValueKind.String, args.GetProperty("city").ValueKind);
        Assert.True(args.GetProperty("unit").GetString() is "celsius" or "fahrenheit");
        Assert.InRange(args.GetProperty("days").GetInt32(), 1, 3);
    }

    [Fact]
    public async Task Complete_ToolChoiceNone_AnswersWithText()
    {
        var request = Ask("What's the weather in Lyon?") with
        {
            Tools = [new ToolDefinition("get_weather", null, ProviderTestHost.Json("""{"type":"object","properties":{}}"""))],
            ToolChoice = ProviderTestHost.Json("\"none\""),
        };

        var response = await Sim.CompleteAsync(ProviderTestHost.For("sim-smart", request), CancellationToken.None);

        Assert.Empty(response.ToolCalls);
        Assert.Equal("stop", response.FinishReason);
        Assert.NotEmpty(response.Text);
    }

    [Fact]
    public async Task Complete_AfterToolResult_AnswersWithText()
    {
        var request = ProviderTestHost.Chat(
            new ChatMessage("user", "Weather?"),
            new ChatMessage("assistant", null, [new ToolCall("call_1", "get_weather", "{}")]),
            new ChatMessage("tool", "12 °C", ToolCallId: "call_1")) with
        {
            Tools = [new ToolDefinition("get_weather", null, null)],
            ToolChoice = ProviderTestHost.Json("\"required\""),
        };

        var response = await Sim.CompleteAsync(ProviderTestHost.For("sim-smart", request), CancellationToken.None);

        Assert.Empty(response.ToolCalls);
        Assert.Contains("tool", response.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_AfterARefusedToolCall_SaysItWasNotDoneWithTheRefusal()
    {
        var request = ProviderTestHost.Chat(
            new ChatMessage("user", "Email the customer."),
            new ChatMessage("assistant", null, [new ToolCall("call_1", "send_email", "{}")]),
            new ChatMessage("tool", """{"error":"approval_rejected","message":"A person rejected 'send_email'; it was not executed."}""", ToolCallId: "call_1")) with
        {
            Tools = [new ToolDefinition("send_email", null, null)],
        };

        var response = await Sim.CompleteAsync(ProviderTestHost.For("sim-fast", request), CancellationToken.None);

        Assert.Empty(response.ToolCalls);
        Assert.Equal("I could not do that: A person rejected 'send_email'; it was not executed.", response.Text);
    }

    [Fact]
    public async Task Stream_NamedToolChoice_StreamsTheCallAsFragments()
    {
        var request = Ask("Find the refund policy.") with
        {
            Tools =
            [
                new ToolDefinition("search_docs", null, ProviderTestHost.Json("""{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}""")),
                new ToolDefinition("other", null, null),
            ],
            ToolChoice = ProviderTestHost.Json("""{"type":"function","function":{"name":"search_docs"}}"""),
        };

        var stream = await ProviderTestHost.DrainAsync(Sim.StreamAsync(ProviderTestHost.For("sim-fast", request), CancellationToken.None));

        var start = stream.Events.OfType<ProviderToolCallDelta>().First();
        Assert.Equal("search_docs", start.Name);
        Assert.Contains("refund", JsonDocument.Parse(stream.Arguments(0)).RootElement.GetProperty("query").GetString(), StringComparison.Ordinal);
        Assert.Equal("tool_calls", stream.Finish);
    }

    [Fact]
    public async Task Complete_JsonSchema_EmitsJsonWithEveryRequiredProperty()
    {
        var schema = ProviderTestHost.Json("""
            {"type":"object","properties":{"sentiment":{"type":"string","enum":["positive","negative","neutral"]},"score":{"type":"number"},
             "tags":{"type":"array","items":{"type":"string"}},"urgent":{"type":"boolean"}},"required":["sentiment","score","tags","urgent"]}
            """);
        var request = Ask("Classify: the checkout page is broken again!") with { ResponseFormat = new ResponseFormat("json_schema", "classification", schema, true) };

        var response = await Sim.CompleteAsync(ProviderTestHost.For("sim-fast", request), CancellationToken.None);

        var json = JsonDocument.Parse(response.Text).RootElement;
        Assert.True(json.GetProperty("sentiment").GetString() is "positive" or "negative" or "neutral");
        Assert.Equal(JsonValueKind.Number, json.GetProperty("score").ValueKind);
        Assert.Equal(JsonValueKind.Array, json.GetProperty("tags").ValueKind);
        Assert.True(json.GetProperty("urgent").ValueKind is JsonValueKind.True or JsonValueKind.False);
    }

    [Fact]
    public async Task Complete_RateLimitMarker_Throws429WithRetryAfter()
    {
        var ex = await Assert.ThrowsAsync<ProviderException>(() =>
            Sim.CompleteAsync(ProviderTestHost.For("sim-fast", Ask("Hi [sim:fail=429] [sim:retry=7]")), CancellationToken.None));

        Assert.Equal(429, ex.StatusCode);
        Assert.True(ex.IsRetryable);
        Assert.Equal(TimeSpan.FromSeconds(7), ex.RetryAfter);
    }

    [Fact]
    public async Task Stream_ServerErrorConfigured_ThrowsFromFirstMoveNext()
    {
        await using var failing = Host(("Fault", "ServerError"));
        await using var enumerator = failing.Provider("sim").StreamAsync(ProviderTestHost.For("sim-fast", Ask("Hi")), CancellationToken.None).GetAsyncEnumerator();

        var ex = await Assert.ThrowsAsync<ProviderException>(async () => await enumerator.MoveNextAsync());

        Assert.Equal(500, ex.StatusCode);
        Assert.True(ex.IsRetryable);
    }

    [Fact]
    public async Task Complete_InsideTheOutageWindow_Answers503WhateverTheMessageSays_AndAnswersAgainAfterIt()
    {
        var now = DateTime.UtcNow;
        var inside = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(now));
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Providers:sim:Kind"] = "Simulated",
            ["Gateway:Providers:sim:Simulated:TimeToFirstTokenMs"] = "0",
            ["Gateway:Providers:sim:Simulated:TokensPerSecond"] = "0",
            ["Gateway:Providers:sim:Simulated:OutageFromUtc"] = now.AddMinutes(-5).ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway:Providers:sim:Simulated:OutageUntilUtc"] = now.AddMinutes(5).ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        };
        await using var host = new ProviderTestHost(settings, inside);

        // Down for everyone: even a request that asks for no fault gets the outage (it is the provider's, not the caller's).
        var ex = await Assert.ThrowsAsync<ProviderException>(() =>
            host.Provider("sim").CompleteAsync(ProviderTestHost.For("sim-smart", Ask("Hi [sim:fail=none]")), CancellationToken.None));
        Assert.Equal(503, ex.StatusCode);
        Assert.True(ex.IsRetryable);
        Assert.Contains("outage", ex.Message, StringComparison.Ordinal);

        inside.Advance(TimeSpan.FromMinutes(6));
        var response = await host.Provider("sim").CompleteAsync(ProviderTestHost.For("sim-smart", Ask("Hi")), CancellationToken.None);
        Assert.NotEmpty(response.Text);
    }

    [Fact]
    public async Task Complete_FailNoneMarker_OverridesConfiguredFault()
    {
        await using var failing = Host(("Fault", "ServerError"));

        var response = await failing.Provider("sim").CompleteAsync(ProviderTestHost.For("sim-fast", Ask("Hi [sim:fail=none]")), CancellationToken.None);

        Assert.NotEmpty(response.Text);
    }

    [Fact]
    public async Task Complete_TimeoutMarker_ThrowsRetryableTimeoutAfterTheProviderTimeout()
    {
        var ex = await Assert.ThrowsAsync<ProviderException>(() =>
            Sim.CompleteAsync(ProviderTestHost.For("sim-fast", Ask("Hi [sim:fail=timeout]")), CancellationToken.None));

        Assert.Equal(408, ex.StatusCode);
        Assert.True(ex.IsRetryable);
    }

    [Fact]
    public async Task Stream_CutMarker_SendsExactlyNTokensThenThrows()
    {
        var received = new List<ProviderStreamEvent>();

        var ex = await Assert.ThrowsAsync<ProviderException>(async () =>
        {
            await foreach (var e in Sim.StreamAsync(ProviderTestHost.For("sim-smart", Ask("Tell me about onboarding. [sim:cut=5]")), CancellationToken.None))
            {
                received.Add(e);
            }
        });

        Assert.True(ex.IsRetryable);
        Assert.Equal(5, received.OfType<ProviderTextDelta>().Count());
        Assert.DoesNotContain(received, e => e is ProviderFinish or ProviderUsage);
    }

    [Fact]
    public async Task Stream_SlowMarkerAndCancellation_StopsBeforeTheFirstToken()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            ProviderTestHost.DrainAsync(Sim.StreamAsync(ProviderTestHost.For("sim-fast", Ask("Hi [sim:slow=60000]")), cts.Token)));
    }

    [Fact]
    public async Task Embed_SimilarTexts_AreCloserThanUnrelatedTexts()
    {
        var result = await Sim.EmbedAsync("sim-embed", ["refund policy for annual plans", "annual plan refund policy", "kubernetes pod eviction"], null, null,
            CancellationToken.None);

        static double Cosine(float[] a, float[] b) => a.Zip(b, (x, y) => (double)x * y).Sum();
        Assert.Equal(1536, result.Vectors[0].Length);
        Assert.True(Cosine(result.Vectors[0], result.Vectors[1]) > Cosine(result.Vectors[0], result.Vectors[2]) + 0.3);
        Assert.Equal(Tokens.Count("refund policy for annual plans") + Tokens.Count("annual plan refund policy") + Tokens.Count("kubernetes pod eviction"),
            result.Usage.InputTokens);
    }

    [Fact]
    public async Task Complete_EmbeddingModel_IsANonRetryableRequestError()
    {
        var ex = await Assert.ThrowsAsync<ProviderException>(() => Sim.CompleteAsync(ProviderTestHost.For("sim-embed", Ask("Hi")), CancellationToken.None));

        Assert.Equal(400, ex.StatusCode);
        Assert.False(ex.IsRetryable);
    }
}
