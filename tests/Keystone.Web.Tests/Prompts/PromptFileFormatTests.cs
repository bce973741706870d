using Keystone.Data.Prompts;
using Keystone.Web.Features.Prompts;

namespace Keystone.Web.Tests.Prompts;

public sealed class PromptFileFormatTests
{
    private const string Valid = """
        ---
        description: Replies to customers.
        alias: smart
        temperature: 0.3
        max_tokens: 200
        variables: company, question
        note: Shorter.
        ---
        <!-- system -->
        You work for {{company}}.

        Be brief.

        <!-- user -->
        {{question}}

        <!-- response_schema -->
        {"type":"object","properties":{"answer":{"type":"string"}}}
        """;

    [Fact]
    public void Parse_ValidFile_ReadsEveryField()
    {
        var file = PromptFileFormat.Parse("reply/v2.md", "reply", 2, Valid);

        Assert.Equal("Replies to customers.", file.Description);
        Assert.Equal(("smart", 0.3, 200), (file.ModelAlias, file.Temperature!.Value, file.MaxTokens!.Value));
        Assert.Equal(["company", "question"], file.Variables);
        Assert.Equal("Shorter.", file.Note);
        Assert.Equal("You work for {{company}}.\n\nBe brief.", file.SystemTemplate);
        Assert.Equal("{{question}}", file.UserTemplate);
        Assert.StartsWith("{\"type\":\"object\"", file.ResponseSchema, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("alias: smart\n---\n<!-- user -->\nx", 1, "must start with front matter")]
    [InlineData("---\nalias: smart\nmodel: gpt\n---\n<!-- user -->\nx", 3, "Unknown front matter key 'model'")]
    [InlineData("---\nalias: smart\ntemperature: warm\n---\n<!-- user -->\nx", 3, "temperature 'warm' is not a number")]
    [InlineData("---\nalias: smart\n---\n<!-- system -->\nx", 5, "needs a user template")]
    [InlineData("---\nalias: smart\n", 3, "not closed")]
    [InlineData("---\nalias: smart\n---\nstray\n<!-- user -->\nx", 4, "Text before the first section")]
    [InlineData("---\nalias: smart\ntemperature: 5\n---\n<!-- user -->\nx", 4, "temperature must be between 0 and 2")]
    public void Parse_MalformedFile_NamesThePathAndLine(string text, int line, string message)
    {
        var error = Assert.Throws<PromptFileException>(() => PromptFileFormat.Parse("reply/v1.md", "reply", 1, text));

        Assert.Equal(line, error.Line);
        Assert.StartsWith($"reply/v1.md:{line}: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Write_ThenParse_GivesTheSameVersionBack()
    {
        var prompt = new Prompt { Name = "reply", Description = "Replies\nto customers." };
        var version = new PromptVersion
        {
            Number = 4,
            SystemTemplate = "Rules.\n\nYou work for {{company}}.",
            UserTemplate = "{{question}}",
            ModelAlias = "fast",
            Temperature = 0.25,
            MaxTokens = 90,
            Note = "Static first.",
            ResponseSchema = """{"type":"object"}""",
        };

        var file = PromptFileFormat.Parse("reply/v4.md", "reply", 4, PromptFileFormat.Write(prompt, version, ["company", "question"]));

        Assert.True(file.SameContentAs(version));
        Assert.Equal("Replies to customers.", file.Description);
        Assert.Equal(["company", "question"], file.Variables);
    }

    [Theory]
    [InlineData("v1.md", 1)]
    [InlineData("v12.md", 12)]
    [InlineData("v0.md", null)]
    [InlineData("draft.md", null)]
    [InlineData("v1.txt", null)]
    public void NumberOf_FileName_IsTheVersionNumber(string fileName, int? expected)
    {
        Assert.Equal(expected, PromptFileFormat.NumberOf(fileName));
    }
}
