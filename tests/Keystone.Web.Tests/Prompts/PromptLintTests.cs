using Keystone.Web.Features.Prompts;

namespace Keystone.Web.Tests.Prompts;

public sealed class PromptLintTests
{
    private static int Words(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;

    private static readonly string LongText = string.Join(" ", Enumerable.Repeat("word", PromptLint.LongStaticTokens));

    [Fact]
    public void Check_DeclaredAndUsedStaticFirst_FindsNothing()
    {
        var findings = PromptLint.Check(LongText, "{{question}}", ["question"], Words);

        Assert.Empty(findings);
    }

    [Fact]
    public void Check_UndeclaredAndUnused_NamesEach()
    {
        var findings = PromptLint.Check("Hi {{company}}", "{{question}}", ["question", "tone"], Words);

        Assert.Equal([PromptLint.Undeclared, PromptLint.Unused], findings.Select(f => f.Code));
        Assert.Contains("{{company}}", findings[0].Message, StringComparison.Ordinal);
        Assert.Contains("'tone'", findings[1].Message, StringComparison.Ordinal);
        Assert.Equal(PromptFindingLevel.Warning, findings[0].Level);
        Assert.Equal(PromptFindingLevel.Note, findings[1].Level);
    }

    [Fact]
    public void Check_VariableBeforeExactlyTheLongThreshold_Warns()
    {
        var findings = PromptLint.Check("Line one\n{{company}} " + LongText, "{{question}}", ["company", "question"], Words);

        var warning = Assert.Single(findings);
        Assert.Equal(PromptLint.VariableBeforeStatic, warning.Code);
        Assert.Contains("line 2", warning.Message, StringComparison.Ordinal);
        Assert.Contains($"{PromptLint.LongStaticTokens} tokens", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_VariableBeforeShortFixedText_DoesNotWarn()
    {
        var findings = PromptLint.Check("{{company}} " + string.Join(" ", Enumerable.Repeat("w", PromptLint.LongStaticTokens - 1)), "", ["company"], Words);

        Assert.Empty(findings);
    }

    [Fact]
    public void FirstVariableBeforeStatic_VariableInSystem_CountsFixedTextOfTheUserTemplateToo()
    {
        var placement = PromptLint.FirstVariableBeforeStatic("a {{x}} b c", "d e {{y}} f", Words);

        Assert.Equal(new VariablePlacement("x", "system", 1, 5), placement);
    }

    [Theory]
    [InlineData("Hello {{ 1st }}")]
    [InlineData("Hello {{name")]
    public void Check_BracesThatOpenNoVariable_Warn(string user)
    {
        var findings = PromptLint.Check(null, user, [], Words);

        Assert.Contains(findings, f => f.Code == PromptLint.StrayBraces);
    }
}
