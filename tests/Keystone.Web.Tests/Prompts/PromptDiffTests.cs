using Bunit;
using Keystone.Data.Prompts;
using Keystone.Web.Features.Prompts;
using Keystone.Web.Platform;

namespace Keystone.Web.Tests.Prompts;

public sealed class PromptDiffTests : KeystoneComponentTest
{
    private static PromptVersion Version(int number, string system, string user, string alias = "smart", double? temperature = null, int? maxTokens = null,
        string? schema = null) => new()
    {
        Number = number,
        SystemTemplate = system,
        UserTemplate = user,
        ModelAlias = alias,
        Temperature = temperature,
        MaxTokens = maxTokens,
        ResponseSchema = schema,
    };

    [Fact]
    public void Text_OneWordChanged_MarksOnlyThatWordOnEachSide()
    {
        var diff = PromptDiff.Text("System template", "Answer in at most three sentences.", "Answer in at most two sentences.");

        Assert.Equal("three", Assert.Single(diff.Left, r => r.Change == WordChange.Removed).Text);
        Assert.Equal("two", Assert.Single(diff.Right, r => r.Change == WordChange.Added).Text);
        Assert.Equal("Answer in at most three sentences.", string.Concat(diff.Left.Select(r => r.Text)));
        Assert.Equal("Answer in at most two sentences.", string.Concat(diff.Right.Select(r => r.Text)));
        Assert.True(diff.Changed);
    }

    [Fact]
    public void Compare_SettingsChanged_FlagsOnlyTheChangedOnes()
    {
        var diff = PromptDiff.Compare(Version(1, "s", "u", temperature: 0.2, maxTokens: 100), Version(2, "s", "u", alias: "fast", temperature: 0.2));

        Assert.Equal(["Model alias", "Max tokens"], diff.Settings.Where(s => s.Changed).Select(s => s.Label));
        Assert.Equal("default", diff.Settings.Single(s => s.Label == "Max tokens").Right);
        Assert.All(diff.Texts.Take(2), t => Assert.False(t.Changed));
    }

    [Fact]
    public void Render_TwoVersions_ShowsDeletionsLeftInsertionsRightAndTemplatesAsText()
    {
        var left = Version(1, "Be brief. <script>alert(1)</script>", "{{question}}");
        var right = Version(2, "Be brief and kind. <script>alert(1)</script>", "{{question}}", schema: """{"type":"object"}""");

        var diff = Render<PromptVersionDiff>(p => p.Add(x => x.Left, left).Add(x => x.Right, right));

        Assert.Contains("kind", diff.Find("[data-test=diff-right-system] ins").TextContent, StringComparison.Ordinal);
        Assert.Empty(diff.FindAll("[data-test=diff-left-system] del"));
        Assert.Empty(diff.FindAll("script"));
        Assert.Contains("<script>alert(1)</script>", diff.Find("[data-test=diff-left-system]").TextContent, StringComparison.Ordinal);
        Assert.Contains("{\"type\":\"object\"}", diff.Find("[data-test=diff-right-response] ins").TextContent.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Equal(["false", "false", "false", "false"], diff.FindAll("[data-test=diff-setting]").Select(r => r.GetAttribute("data-changed")));
    }
}
