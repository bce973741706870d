using System.Text;
using Keystone.Web.Features.Knowledge;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace Keystone.Web.Tests.Knowledge;

public sealed class DocumentParserTests
{
    [Fact]
    public void Parse_Html_KeepsTheMainContentAndItsHeadings_DropsNavigationAndScripts()
    {
        var html = """
            <html><head><title>Widget care</title><script>var tracking = 1;</script></head><body>
            <nav><a href="/">Home</a> <a href="/pricing">Pricing menu link</a></nav>
            <main><h1>Widget care</h1><p>Clean the widget with a dry cloth.</p><h2>Storage</h2><p>Keep it below 30 degrees.</p></main>
            <footer>Copyright footer text</footer></body></html>
            """;

        var parsed = DocumentParser.Parse("care.html", Encoding.UTF8.GetBytes(html));

        var text = string.Join("\n", parsed.Sections.Select(s => string.Join(">", s.Headings) + ":" + s.Text));
        Assert.Equal("Widget care", parsed.Title);
        Assert.Contains("Clean the widget with a dry cloth.", text, StringComparison.Ordinal);
        Assert.Contains("Storage:Keep it below 30 degrees.", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Pricing menu link", text, StringComparison.Ordinal);
        Assert.DoesNotContain("tracking", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Copyright footer", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Pdf_ReadsItsTextPageByPage()
    {
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        builder.AddPage(UglyToad.PdfPig.Content.PageSize.A4).AddText("The flux capacitor needs 1.21 gigawatts.", 12, new UglyToad.PdfPig.Core.PdfPoint(50, 700), font);
        builder.AddPage(UglyToad.PdfPig.Content.PageSize.A4).AddText("Page two talks about warranty.", 12, new UglyToad.PdfPig.Core.PdfPoint(50, 700), font);

        var parsed = DocumentParser.Parse("manual.pdf", builder.Build());

        Assert.Equal("pdf", parsed.Kind);
        Assert.Equal(["Page 1", "Page 2"], parsed.Sections.Select(s => s.Headings[0]));
        Assert.Contains("gigawatts", parsed.Sections[0].Text, StringComparison.Ordinal);
        Assert.Contains("warranty", parsed.Sections[1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EncryptedPdf_FailsSayingItIsPasswordProtected()
    {
        var ex = Assert.Throws<KnowledgeFileException>(() => DocumentParser.Parse("secret.pdf", KnowledgeTestFiles.EncryptedPdf()));

        Assert.Equal(KnowledgeErrors.Encrypted, ex.Code);
        Assert.Contains("password", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("broken.pdf", "not a pdf at all", KnowledgeErrors.Unreadable)]
    [InlineData("picture.png", "PNG", KnowledgeErrors.UnsupportedType)]
    [InlineData("empty.md", "", KnowledgeErrors.Empty)]
    [InlineData("blank.txt", "   \n\n  ", KnowledgeErrors.NoText)]
    public void Parse_BadFile_FailsWithItsReason(string name, string content, string code)
    {
        var ex = Assert.Throws<KnowledgeFileException>(() => DocumentParser.Parse(name, Encoding.UTF8.GetBytes(content)));

        Assert.Equal(code, ex.Code);
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BinaryFileNamedText_FailsAsNotText()
    {
        var ex = Assert.Throws<KnowledgeFileException>(() => DocumentParser.Parse("data.txt", [0x41, 0x00, 0x42]));

        Assert.Equal(KnowledgeErrors.Unreadable, ex.Code);
    }
}
