using Keystone.Gateway;
using Keystone.Data.Calls;
using Keystone.Web.Features.Traces;
using Keystone.Web.Platform;

namespace Keystone.Web.Tests.Traces;

public sealed class TraceFilterTests
{
    private static readonly System.Text.Json.JsonSerializerOptions WebDefaults = new(System.Text.Json.JsonSerializerDefaults.Web);

    [Fact]
    public void ToQueryString_EveryField_ParsesBackToTheSameFilter()
    {
        var filter = new TraceFilter
        {
            Text = "refund & more",
            User = "jane@acme.test",
            Feature = "support.chat",
            Model = "openai/gpt-4o-mini",
            Status = TraceStatusFilter.Fallback,
            PromptName = "answer",
            PromptVersionId = Guid.NewGuid(),
            MinCostMicros = 10,
            MaxCostMicros = 2_000_000,
            MinLatencyMs = 5,
            MaxLatencyMs = 9_000,
            FromUtc = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc),
            ToUtc = new DateTime(2026, 11, 3, 0, 0, 0, DateTimeKind.Utc),
            TraceId = Guid.NewGuid(),
            Sort = TraceSort.Cost,
        };

        var parsed = TraceFilter.Parse("?" + filter.ToQueryString());

        Assert.Equal(filter, parsed);
    }

    [Fact]
    public void ToQueryString_EmptyFilter_IsEmpty()
    {
        Assert.Equal("", TraceFilter.Empty.ToQueryString());
    }

    [Fact]
    public void Parse_GarbageValues_AreIgnoredNotErrors()
    {
        var parsed = TraceFilter.Parse("status=exploded&minCost=-5&maxMs=abc&trace=not-a-guid&from=yesterday&sort=random&feature=chat");

        Assert.Equal(new TraceFilter { Feature = "chat" }, parsed);
    }

    [Fact]
    public void Words_QuerySyntax_KeepsOnlyLettersAndDigits()
    {
        var words = FullTextQuery.Words("\"Refund\" AND (order* OR -NEAR( café 42");

        Assert.Equal(["refund", "and", "order", "or", "near", "café", "42"], words);
        Assert.Equal("\"refund\" \"and\" \"order\" \"or\" \"near\" \"café\" \"42\"", FullTextQuery.ToFts5(words));
    }

    [Fact]
    public void Words_ManyWords_AreCappedAndDeduplicated()
    {
        var words = FullTextQuery.Words(string.Join(' ', Enumerable.Range(0, 40).Select(i => $"w{i % 20}")));

        Assert.Equal(FullTextQuery.MaxWords, words.Count);
        Assert.Equal(words.Distinct().Count(), words.Count);
    }

    [Fact]
    public void Validate_RawDaysAboveRedactedDays_IsRejected()
    {
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        var bad = new TracesOptions { RawDays = 40, RedactedDays = 30 };
        var good = new TracesOptions();

        var badValid = System.ComponentModel.DataAnnotations.Validator.TryValidateObject(bad, new(bad), results, validateAllProperties: true);
        var goodValid = System.ComponentModel.DataAnnotations.Validator.TryValidateObject(good, new(good), [], validateAllProperties: true);

        Assert.False(badValid);
        Assert.Contains(results, r => r.ErrorMessage!.Contains("Traces:RawDays", StringComparison.Ordinal));
        Assert.True(goodValid);
        Assert.Equal((7, 30), (good.RawDays, good.RedactedDays));
    }

    [Fact]
    public void Compute_ChangedWord_IsMarkedRemovedAndAdded()
    {
        var diff = WordDiff.Inline("Your refund was approved today.", "Your refund was declined today.");

        Assert.Contains(diff, s => s.Change == WordChange.Removed && s.Text.Contains("approved", StringComparison.Ordinal));
        Assert.Contains(diff, s => s.Change == WordChange.Added && s.Text.Contains("declined", StringComparison.Ordinal));
        Assert.DoesNotContain(diff, s => s.Change != WordChange.Same && s.Text.Contains("refund", StringComparison.Ordinal));
        Assert.Equal("Your refund was declined today.", string.Concat(diff.Where(s => s.Change != WordChange.Removed).Select(s => s.Text)));
    }

    [Fact]
    public void Parse_SnakeCaseOpenAiShape_ReadsMessagesToolCallsAndAnswer()
    {
        const string request = """
            {"model":"smart","temperature":0.5,"max_tokens":100,"stop":"END","messages":[
              {"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]},
              {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"{\"temp\":12}"}],
             "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now","parameters":{"type":"object"}}}]}
            """;
        const string response = """{"choices":[{"message":{"role":"assistant","content":"It is 12 °C."},"finish_reason":"stop"}]}""";
        const string attempts = """[{"provider":"openai","model":"gpt-4o","outcome":"error","statusCode":503,"error":"overloaded","durationMs":120},{"provider":"anthropic","model":"claude","outcome":"ok","statusCode":200,"durationMs":800}]""";

        var p = TracePayload.Parse(request, response, attempts);

        Assert.Equal(["user", "assistant", "tool"], p.Messages.Select(m => m.Role));
        Assert.Equal("Weather in Paris?", p.Messages[0].Content);
        Assert.Equal("get_weather", p.Messages[1].ToolCalls.Single().Name);
        Assert.Contains("\"city\": \"Paris\"", p.Messages[1].ToolCalls.Single().Arguments, StringComparison.Ordinal);
        Assert.Equal("call_1", p.Messages[2].ToolCallId);
        Assert.Equal("get_weather", p.Tools.Single().Name);
        Assert.Equal((0.5, 100, "END"), (p.Temperature!.Value, p.MaxTokens!.Value, p.Stop.Single()));
        Assert.Equal("It is 12 °C.", p.AnswerText);
        Assert.Equal("stop", p.FinishReason);
        Assert.Equal(["error", "ok"], p.Attempts.Select(a => a.Outcome));
        Assert.Equal(503, p.Attempts[0].StatusCode);
    }

    [Fact]
    public void Parse_GatewayCamelCaseShape_ReadsMessagesAndAnswer()
    {
        var (_, trace) = TraceTestData.Call(TraceTestData.Acme, TraceTestData.T0, prompt: "Where is my parcel?", answer: "On its **way**.");

        var p = TracePayload.Parse(trace.RequestJson, trace.ResponseJson, trace.AttemptsJson);

        Assert.Equal(["system", "user"], p.Messages.Select(m => m.Role));
        Assert.Equal("Where is my parcel?", p.Messages[1].Content);
        Assert.Equal("On its **way**.", p.AnswerText);
        Assert.Equal(256, p.MaxTokens);
        Assert.Single(p.Attempts);
    }

    [Fact]
    public void Parse_NotJson_ShowsTextInsteadOfFailing()
    {
        var p = TracePayload.Parse("not json {", "plain answer", null);

        Assert.Empty(p.Messages);
        Assert.Equal("plain answer", p.AnswerText);
        Assert.Equal("not json {", p.RequestJsonPretty);
    }

    [Fact]
    public void For_RecordedCall_BuildsOpenAiShapedCurlWithKeyPlaceholder()
    {
        var (call, trace) = TraceTestData.Call(TraceTestData.Acme, TraceTestData.T0, prompt: "It's a test", configure: c => c.Feature = "billing");
        var detail = new TraceDetail(call, "Acme", TracePayload.Parse(trace.RequestJson, trace.ResponseJson, trace.AttemptsJson),
            true, true, 0, null, [], [], []);

        var curl = CurlCommand.For(detail, "https://keystone.example/");

        Assert.StartsWith("curl https://keystone.example/v1/chat/completions", curl, StringComparison.Ordinal);
        Assert.Contains("Bearer $KEYSTONE_API_KEY", curl, StringComparison.Ordinal);
        Assert.Contains("X-Keystone-Feature: billing", curl, StringComparison.Ordinal);
        Assert.Contains("\"max_tokens\": 256", curl, StringComparison.Ordinal);
        Assert.Contains("It'\\''s a test", curl, StringComparison.Ordinal);
        Assert.Contains("\"user\": \"end-user-1\"", curl, StringComparison.Ordinal);
    }

    [Fact]
    public void BuildRequest_ReplayOnAnotherModel_KeepsMessagesAndSamplingAndSkipsTheCache()
    {
        var (call, trace) = TraceTestData.Call(TraceTestData.Acme, TraceTestData.T0, prompt: "Summarize my order");
        var detail = new TraceDetail(call, "Acme", TracePayload.Parse(trace.RequestJson, trace.ResponseJson, trace.AttemptsJson),
            true, true, 0, null, [], [], []);

        var same = TraceReplayer.BuildRequest(detail, null);
        var other = TraceReplayer.BuildRequest(detail, "fast");

        Assert.Equal("smart", same.Model);
        Assert.Equal("fast", other.Model);
        Assert.Equal(["system", "user"], other.Messages.Select(m => m.Role));
        Assert.Equal("Summarize my order", other.Messages[1].Content);
        Assert.Equal((0.2, 256), (other.Temperature!.Value, other.MaxTokens!.Value));
        Assert.False(other.Cache);
        Assert.Equal(CallStatus.Ok, detail.Call.Status);
    }

    [Fact]
    public void Replay_RequestWithPenaltiesEffortAndParallelToolCalls_KeepsThemAndTheCurlShowsThem()
    {
        // The request as the recorder writes it (web defaults: camelCase, nulls written).
        var recorded = System.Text.Json.JsonSerializer.Serialize(new ChatRequest
        {
            Model = "reasoning",
            Messages = [new ChatMessage("user", "Plan my week")],
            FrequencyPenalty = 0.5,
            PresencePenalty = -0.25,
            ReasoningEffort = "high",
            ParallelToolCalls = false,
        }, WebDefaults);
        var (call, trace) = TraceTestData.Call(TraceTestData.Acme, TraceTestData.T0);
        var detail = new TraceDetail(call, "Acme", TracePayload.Parse(recorded, trace.ResponseJson, trace.AttemptsJson), true, true, 0, null, [], [], []);

        var replay = TraceReplayer.BuildRequest(detail, "smart");
        var curl = CurlCommand.For(detail, "https://keystone.example/");
        var plain = TracePayload.Parse(trace.RequestJson, trace.ResponseJson, trace.AttemptsJson);

        Assert.Equal((0.5, -0.25, "high", false), (replay.FrequencyPenalty, replay.PresencePenalty, replay.ReasoningEffort, replay.ParallelToolCalls));
        Assert.Contains("\"frequency_penalty\": 0.5", curl, StringComparison.Ordinal);
        Assert.Contains("\"presence_penalty\": -0.25", curl, StringComparison.Ordinal);
        Assert.Contains("\"reasoning_effort\": \"high\"", curl, StringComparison.Ordinal);
        Assert.Contains("\"parallel_tool_calls\": false", curl, StringComparison.Ordinal);
        Assert.Null(plain.Sampling);
    }
}
