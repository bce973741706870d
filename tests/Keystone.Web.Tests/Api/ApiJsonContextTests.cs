using System.Text.Json;
using Keystone.Web.Features.Api;

namespace Keystone.Web.Tests.Api;

/// <summary>The source-generated chat answer is byte for byte what the app's general serializer writes.</summary>
public sealed class ApiJsonContextTests
{
    private static readonly JsonSerializerOptions WebDefaults = new(JsonSerializerDefaults.Web);

    public static TheoryData<ChatCompletionResponse> Answers() => new()
    {
        Answer(new ChatChoiceMessage("assistant", "Plain text.", null), "stop"),
        // Escaping: HTML-sensitive characters, non-ASCII, quotes, control characters and an emoji.
        Answer(new ChatChoiceMessage("assistant", "<b>\"Grüße\" & 'ok'</b>\n\t\u0001 😀 + 1", null), "stop"),
        // Tool calls with no text: content is written as null, tool_calls present.
        Answer(new ChatChoiceMessage("assistant", null,
            [new ToolCallDto("call_1", "function", new ToolCallFunctionDto("get_weather", """{"city":"Zürich"}"""))]), "tool_calls"),
    };

    [Theory]
    [MemberData(nameof(Answers))]
    public void ChatCompletionResponse_SourceGenerated_MatchesTheWebDefaults(ChatCompletionResponse answer)
    {
        var general = JsonSerializer.SerializeToUtf8Bytes(answer, WebDefaults);

        var generated = JsonSerializer.SerializeToUtf8Bytes(answer, ApiJsonContext.Default.ChatCompletionResponse);

        Assert.Equal(System.Text.Encoding.UTF8.GetString(general), System.Text.Encoding.UTF8.GetString(generated));
    }

    [Theory]
    [MemberData(nameof(Answers))]
    public void Answer_AsSentOnTheWire_IsTheSameJsonValueAsTheWebDefaults(ChatCompletionResponse answer)
    {
        var general = JsonSerializer.SerializeToUtf8Bytes(answer, WebDefaults);

        var sent = JsonSerializer.SerializeToUtf8Bytes(answer, ApiJsonContext.Answer);

        using var expected = JsonDocument.Parse(general);
        using var actual = JsonDocument.Parse(sent);
        Assert.True(JsonElement.DeepEquals(expected.RootElement, actual.RootElement), System.Text.Encoding.UTF8.GetString(sent));
    }

    [Fact]
    public void Answer_AsSentOnTheWire_EscapesOnlyWhatJsonRequires()
    {
        var json = System.Text.Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(
            Answer(new ChatChoiceMessage("assistant", "<b>\"Grüße\" & 'ok'</b>\n\u0001 + 1", null), "stop"), ApiJsonContext.Answer));

        // As OpenAI answers: text as it is, only quotes, backslashes and control characters escaped.
        Assert.Contains("""<b>\"Grüße\" & 'ok'</b>\n\u0001 + 1""", json, StringComparison.Ordinal);
    }

    [Fact]
    public void ChatCompletionResponse_ToolCallsAbsent_OmitsTheField()
    {
        var json = JsonSerializer.Serialize(Answer(new ChatChoiceMessage("assistant", "Hi.", null), "stop"), ApiJsonContext.Default.ChatCompletionResponse);

        using var document = JsonDocument.Parse(json);
        var message = document.RootElement.GetProperty("choices")[0].GetProperty("message");
        Assert.False(message.TryGetProperty("tool_calls", out _));
        Assert.Equal(12345, document.RootElement.GetProperty("usage").GetProperty("x_keystone_cost_micros").GetInt64());
    }

    private static ChatCompletionResponse Answer(ChatChoiceMessage message, string finish) => new(
        "chatcmpl-1", "chat.completion", 1_763_856_000, "gpt-4o-mini", [new ChatChoice(0, message, finish)],
        new ChatUsage(10, 5, 15, new PromptTokensDetails(2), new CompletionTokensDetails(0), 12345));
}
