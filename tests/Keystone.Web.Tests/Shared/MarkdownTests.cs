using Bunit;
using Keystone.Web.Components.Shared;

namespace Keystone.Web.Tests.Shared;

public sealed class MarkdownTests : KeystoneComponentTest
{
    [Fact]
    public void Render_ScriptTagInModelOutput_IsTextNotMarkup()
    {
        var md = Render<Markdown>(p => p.Add(c => c.Text, "Hello <script>alert('x')</script> world"));

        Assert.Empty(md.FindAll("script"));
        Assert.Contains("<script>alert('x')</script>", md.Find("[data-test=markdown]").TextContent);
    }

    [Fact]
    public void Render_ImgWithOnerror_RendersNoElementAndNoHandler()
    {
        var md = Render<Markdown>(p => p.Add(c => c.Text, "Look: <img src=x onerror=\"fetch('//evil')\"> and ![pic](https://evil.example/track.png)"));

        Assert.Empty(md.FindAll("img"));
        Assert.Contains("<img src=x onerror=", md.Find("[data-test=markdown]").TextContent);
        Assert.All(md.FindAll("*"), e => Assert.DoesNotContain(e.Attributes, a => a.Name.StartsWith("on", StringComparison.OrdinalIgnoreCase)));
    }

    [Fact]
    public void Render_JavascriptLink_LosesItsHref()
    {
        var md = Render<Markdown>(p => p.Add(c => c.Text, "[click](javascript:alert(1)) and [data](data:text/html;base64,PHNjcmlwdD4=)"));

        Assert.DoesNotContain("javascript:", md.Markup, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("data:text", md.Markup, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Render_HttpLink_IsMarkedNoopenerNoreferrerNofollow()
    {
        var md = Render<Markdown>(p => p.Add(c => c.Text, "See [docs](https://example.com/docs) or mail [us](mailto:help@example.com)."));

        var links = md.FindAll("a");
        Assert.Equal(2, links.Count);
        Assert.All(links, a => Assert.Equal("noopener noreferrer nofollow", a.GetAttribute("rel")));
        Assert.Equal("https://example.com/docs", links[0].GetAttribute("href"));
        Assert.Equal("mailto:help@example.com", links[1].GetAttribute("href"));
    }

    [Fact]
    public void Render_FencedCode_BecomesPreCodeWithLanguageAndEscapedContent()
    {
        var md = Render<Markdown>(p => p.Add(c => c.Text, "Code:\n\n```csharp\nvar x = \"<b>\";\n```\n"));

        var code = md.Find("pre > code");
        Assert.Equal("language-csharp", code.GetAttribute("class"));
        Assert.Contains("var x = \"<b>\";", code.TextContent);
        Assert.Empty(md.FindAll("pre b"));
    }

    [Fact]
    public void Render_StreamingThenFinished_GivesTheSameDocument()
    {
        const string text = "# Title\n\nFirst paragraph with **bold**.\n\n- one\n- two\n\n```\ncode\n\nmore code\n```\n\nLast line";
        var md = Render<Markdown>(p => p.Add(c => c.Text, text).Add(c => c.Streaming, true));
        var streamed = md.Find("[data-test=markdown]").TextContent;

        md.Render(p => p.Add(c => c.Text, text).Add(c => c.Streaming, false));

        Assert.Equal(md.Find("[data-test=markdown]").TextContent, streamed);
        Assert.Single(md.FindAll("h1"));
        Assert.Single(md.FindAll("pre"));
    }

    [Theory]
    [InlineData("", 0)]
    [InlineData("partial line", 0)]
    [InlineData("para one\n\npara two", 10)]
    [InlineData("para\n\n```\ncode\n\nstill code", 6)]
    [InlineData("a\n\n```\ncode\n\n```\n\nb", 18)]
    public void StableBoundary_Text_EndsAfterTheLastBlankLineOutsideCode(string text, int expected)
    {
        Assert.Equal(expected, SafeMarkdown.StableBoundary(text));
    }
}
