using System.Text.Json;
using Keystone.Web.Features.Api;
using Keystone.Web.Platform.Http;

namespace Keystone.Web.Tests.Api;

/// <summary>The sampling options beyond temperature: read under OpenAI's names, refused by name when out of range.</summary>
public sealed class ChatCompletionParserTests
{
    private static ParsedChatRequest Parse(string extra)
    {
        using var doc = JsonDocument.Parse($$"""{"model":"smart","messages":[{"role":"user","content":"hi"}]{{extra}}}""");
        return ChatCompletionParser.Parse(doc.RootElement);
    }

    [Fact]
    public void Parse_PenaltiesEffortAndParallelToolCalls_ReachTheRequest()
    {
        var parsed = Parse(""","frequency_penalty":-0.5,"presence_penalty":1.25,"reasoning_effort":"minimal","parallel_tool_calls":false""");

        var r = parsed.Request;
        Assert.Equal((-0.5, 1.25, "minimal", false), (r.FrequencyPenalty, r.PresencePenalty, r.ReasoningEffort, r.ParallelToolCalls));
    }

    [Fact]
    public void Parse_NoneOfThem_LeavesThemUnset()
    {
        var r = Parse("").Request;

        Assert.Equal((null, null, null, null), (r.FrequencyPenalty, r.PresencePenalty, r.ReasoningEffort, r.ParallelToolCalls));
    }

    [Theory]
    [InlineData(",\"frequency_penalty\":2.5", "frequency_penalty")]
    [InlineData(",\"presence_penalty\":\"high\"", "presence_penalty")]
    [InlineData(",\"reasoning_effort\":\"extreme\"", "reasoning_effort")]
    [InlineData(",\"reasoning_effort\":3", "reasoning_effort")]
    [InlineData(",\"parallel_tool_calls\":\"no\"", "parallel_tool_calls")]
    [InlineData(",\"logprobs\":true", "logprobs")]
    [InlineData(",\"top_logprobs\":3", "top_logprobs")]
    [InlineData(",\"top_logprobs\":99", "top_logprobs")]
    public void Parse_BadOrUnsupportedOption_Is400NamingIt(string extra, string param)
    {
        var ex = Assert.Throws<ApiException>(() => Parse(extra));

        Assert.Equal(400, ex.Status);
        Assert.Equal(param, ex.Param);
    }

    [Fact]
    public void Parse_TheSameLongSystemPromptInTwoRequests_IsHeldOnce()
    {
        // Issue 26, memory per open stream: each open stream keeps its request, so 1,000 streams with the same 2 KB system
        // prompt held 1,000 copies of it. Parsed requests now share one copy of a long text; content is unchanged.
        var prompt = "You are the support assistant of Example Corp. " + string.Concat(Enumerable.Repeat("Answer politely; cite the policy. ", 20))
            + Guid.NewGuid().ToString("N");
        var shortText = "Hi " + Guid.NewGuid().ToString("N");

        var first = ParseMessages(prompt, "First question?");
        var second = ParseMessages(prompt, "Second question?");
        var third = ParseMessages(shortText, "Third question?");
        var fourth = ParseMessages(shortText, "Fourth question?");

        Assert.Equal(prompt, first.Messages[0].Content);
        Assert.Same(first.Messages[0].Content, second.Messages[0].Content);
        Assert.Equal("Second question?", second.Messages[1].Content);
        // Short texts are left alone (the lookup would cost more than it saves).
        Assert.Equal(third.Messages[0].Content, fourth.Messages[0].Content);
        Assert.NotSame(third.Messages[0].Content, fourth.Messages[0].Content);

        static Keystone.Gateway.ChatRequest ParseMessages(string system, string user)
        {
            var json = JsonSerializer.Serialize(new { model = "smart", messages = new[] { new { role = "system", content = system }, new { role = "user", content = user } } });
            using var doc = JsonDocument.Parse(json);
            return ChatCompletionParser.Parse(doc.RootElement).Request;
        }
    }

    [Theory]
    [InlineData(",\"logprobs\":false")]
    [InlineData(",\"logprobs\":null,\"top_logprobs\":0")]
    public void Parse_UnsupportedOptionTurnedOff_IsAccepted(string extra)
        => Assert.Equal("smart", Parse(extra).Request.Model);
}
