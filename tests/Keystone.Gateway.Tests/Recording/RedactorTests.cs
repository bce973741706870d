using System.Text.Json;
using Keystone.Gateway.Recording;

namespace Keystone.Gateway.Tests.Recording;

public sealed class RedactorTests
{
    /// <summary>The recorder's serializer settings (CallRecorder).</summary>
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Theory]
    [InlineData("mail me at jane.doe+ai@example.co.uk please", "mail me at [REDACTED_EMAIL] please")]
    [InlineData("call +1 415 555 2671 now", "call [REDACTED_PHONE] now")]
    [InlineData("office (415) 555-2671", "office [REDACTED_PHONE]")]
    // Exactly nine digits: the fewest a phone number can have, the edge of the digit pre-check.
    [InlineData("ring 415 555 267", "ring [REDACTED_PHONE]")]
    [InlineData("card 4111 1111 1111 1111 exp 12/29", "card [REDACTED_CARD] exp 12/29")]
    [InlineData("card 4111-1111-1111-1111", "card [REDACTED_CARD]")]
    [InlineData("key sk-proj-AbCdEf0123456789xyzXYZ", "key [REDACTED_KEY]")]
    [InlineData("key sk-ant-api03-AbCdEf0123456789", "key [REDACTED_KEY]")]
    [InlineData("our key ks_live_0123456789abcdefXYZ here", "our key [REDACTED_KEY] here")]
    public void Redact_SensitiveValue_IsReplaced(string input, string expected)
    {
        var (text, count) = Redactor.Redact(input);

        Assert.Equal(expected, text);
        Assert.Equal(1, count);
    }

    [Theory]
    [InlineData("card 4111 1111 1111 1112")]
    [InlineData("order 2024-01-15 shipped")]
    [InlineData("ring 415 555 26")]
    [InlineData("trace a0000000-0000-4000-8000-00000000ac3e")]
    [InlineData("version 1.2.3 and 42 tokens")]
    [InlineData("the task-specific key is fine")]
    public void Redact_LookalikeValue_IsKept(string input)
    {
        var (text, count) = Redactor.Redact(input);

        Assert.Equal(input, text);
        Assert.Equal(0, count);
    }

    [Fact]
    public void Redact_SeveralValues_CountsEach()
    {
        var (text, count) = Redactor.Redact("""{"content":"a@b.io and c@d.io, card 5555555555554444"}""");

        Assert.Equal("""{"content":"[REDACTED_EMAIL] and [REDACTED_EMAIL], card [REDACTED_CARD]"}""", text);
        Assert.Equal(3, count);
    }

    [Theory]
    [InlineData("4111111111111111", true)]
    [InlineData("5555 5555 5555 4444", true)]
    [InlineData("4111111111111112", false)]
    [InlineData("1234", false)]
    public void PassesLuhn_Candidate_MatchesChecksum(string candidate, bool expected)
        => Assert.Equal(expected, Redactor.PassesLuhn(candidate));

    [Theory]
    [InlineData("forward it to \"ops@northwind.example\" today", "ops@northwind.example")] // after an escaped quote (\u0022)
    [InlineData("first line\nbob@example.com", "bob@example.com")] // after an escaped newline (\n)
    [InlineData("write to bob+parcels@example.org", "bob+parcels@example.org")] // '+' is escaped (\u002B)
    [InlineData("<b>call</b> +44 20 7946 0958", "7946 0958")] // '<' '>' '+' escaped around a phone number
    [InlineData("it's my card, isn't it: 4111 1111 1111 1111", "4111 1111 1111 1111")] // digits after escaped apostrophes (\u0027)
    public void RedactJson_ValueNextToAnEscape_IsRedactedAndTheJsonStaysValid(string content, string secret)
    {
        var json = JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content } } }, Web);

        var (redacted, count) = Redactor.RedactJson(json);

        Assert.Equal(1, count);
        using var doc = JsonDocument.Parse(redacted); // throws if the redaction broke the JSON
        var stored = doc.RootElement.GetProperty("messages")[0].GetProperty("content").GetString()!;
        Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);
        Assert.Equal(Redactor.Redact(content).Text, stored);
        Assert.Equal("user", doc.RootElement.GetProperty("messages")[0].GetProperty("role").GetString());
    }

    [Fact]
    public void RedactJson_NothingToRedact_ReturnsTheSameString()
    {
        var json = JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = "Parcel NW-20311, 12 items, \"fragile\" <ok>" } }, n = 1.5, ok = true, none = (string?)null },
            Web);

        var (redacted, count) = Redactor.RedactJson(json);

        Assert.Same(json, redacted);
        Assert.Equal(0, count);

        // Nine digits and more in the whole text, but no string value with enough for a card or a phone number.
        var spread = """{"messages":[{"role":"system","content":"Rule 12345: refunds above 200 EUR"},{"role":"user","content":"Request 67890"}]}""";
        Assert.Same(spread, Redactor.RedactJson(spread).Json);
    }

    [Fact]
    public void RedactJson_SeveralValuesAndOtherTokens_CountsEachAndKeepsTheRestAsSerialized()
    {
        var json = """{"a":"x@y.io","list":["4111 1111 1111 1111",2,-0.5e3,true,false,null],"nested":{"sk-name":"sk-proj-Abc123Def456Ghi789Jkl012"}}""";

        var (redacted, count) = Redactor.RedactJson(json);

        Assert.Equal(3, count);
        Assert.Equal("""{"a":"[REDACTED_EMAIL]","list":["[REDACTED_CARD]",2,-0.5e3,true,false,null],"nested":{"sk-name":"[REDACTED_KEY]"}}""", redacted);
    }
}
