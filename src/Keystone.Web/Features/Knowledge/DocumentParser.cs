using System.Text;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using UglyToad.PdfPig;
using UglyToad.PdfPig.DocumentLayoutAnalysis.TextExtractor;
using UglyToad.PdfPig.Exceptions;

namespace Keystone.Web.Features.Knowledge;

/// <summary>A section of a parsed document: its heading path and its paragraphs (blank-line separated).</summary>
internal sealed record ParsedSection(IReadOnlyList<string> Headings, string Text);

/// <summary>A document as text: its title, kind and sections in order.</summary>
internal sealed record ParsedDocument(string Title, string Kind, IReadOnlyList<ParsedSection> Sections);

/// <summary>
/// Turns an uploaded file into titled sections of text. Markdown keeps its headings; HTML keeps its main content
/// (SmartReader's readability port drops navigation, footers and ads) with its headings; PDF gives a section per page;
/// plain text is one section. Every failure is a <see cref="KnowledgeFileException"/> naming the file's problem.
/// </summary>
internal static class DocumentParser
{
    /// <summary>The kinds by file extension.</summary>
    public static readonly IReadOnlyDictionary<string, string> Kinds = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        [".md"] = "markdown", [".markdown"] = "markdown", [".txt"] = "text", [".text"] = "text",
        [".html"] = "html", [".htm"] = "html", [".pdf"] = "pdf",
    };

    /// <summary>The accepted extensions in words, for error messages and the page.</summary>
    public const string AcceptedInWords = "Markdown (.md), plain text (.txt), HTML (.html) or PDF (.pdf)";

    /// <summary>The kind of a file name, or a refusal naming what is accepted.</summary>
    public static string KindOf(string fileName)
        => Kinds.TryGetValue(Path.GetExtension(fileName), out var kind)
            ? kind
            : throw new KnowledgeFileException(KnowledgeErrors.UnsupportedType,
                $"'{fileName}' is not a supported type: upload {AcceptedInWords}.");

    public static ParsedDocument Parse(string fileName, byte[] bytes)
    {
        var kind = KindOf(fileName);
        if (bytes.Length == 0)
        {
            throw new KnowledgeFileException(KnowledgeErrors.Empty, $"'{fileName}' is empty.");
        }

        var fallbackTitle = Path.GetFileNameWithoutExtension(fileName);
        var parsed = kind switch
        {
            "markdown" => ParseMarkdown(Utf8(fileName, bytes), fallbackTitle, kind),
            "text" => new ParsedDocument(fallbackTitle, kind, [new ParsedSection([], Utf8(fileName, bytes))]),
            "html" => ParseHtml(Utf8(fileName, bytes), fallbackTitle),
            _ => ParsePdf(fileName, bytes, fallbackTitle),
        };
        if (parsed.Sections.All(s => string.IsNullOrWhiteSpace(s.Text)))
        {
            throw new KnowledgeFileException(KnowledgeErrors.NoText,
                kind == "pdf"
                    ? $"'{fileName}' has no text to read (a scanned PDF holds pictures of text; run it through OCR first)."
                    : $"'{fileName}' has no text to read.");
        }

        return parsed;
    }

    private static string Utf8(string fileName, byte[] bytes)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new KnowledgeFileException(KnowledgeErrors.Unreadable, $"'{fileName}' is not UTF-8 text (save it as UTF-8 and upload it again).");
        }

        // A NUL is never in text: a binary file with a text name.
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            throw new KnowledgeFileException(KnowledgeErrors.Unreadable, $"'{fileName}' is a binary file, not text.");
        }

        return text.TrimStart('\uFEFF').ReplaceLineEndings("\n");
    }

    /// <summary>ATX headings (<c># Title</c>) open sections; fenced code is text (a <c>#</c> in it is no heading).</summary>
    internal static ParsedDocument ParseMarkdown(string text, string fallbackTitle, string kind)
    {
        var sections = new List<ParsedSection>();
        var path = new List<(int Level, string Text)>();
        var current = new StringBuilder();
        string? title = null;
        var inFence = false;

        void Flush()
        {
            if (current.ToString().Trim() is { Length: > 0 } body)
            {
                sections.Add(new ParsedSection(path.Select(p => p.Text).ToList(), body));
            }

            current.Clear();
        }

        foreach (var line in text.Split('\n'))
        {
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith("```", StringComparison.Ordinal) || trimmed.StartsWith("~~~", StringComparison.Ordinal))
            {
                inFence = !inFence;
            }

            var level = inFence ? 0 : HeadingLevel(trimmed);
            if (level == 0)
            {
                current.Append(line).Append('\n');
                continue;
            }

            Flush();
            var heading = trimmed[level..].Trim().TrimEnd('#').Trim();
            if (level == 1 && title is null && path.Count == 0)
            {
                title = heading;
            }

            path.RemoveAll(p => p.Level >= level);
            path.Add((level, heading));
        }

        Flush();
        // The document's own title heading is the header's first part already: do not repeat it in each section path.
        if (title is not null)
        {
            sections = sections.Select(s => s.Headings.Count > 0 && s.Headings[0] == title ? s with { Headings = s.Headings.Skip(1).ToList() } : s).ToList();
        }

        return new ParsedDocument(title ?? fallbackTitle, kind, sections);
    }

    private static int HeadingLevel(string line)
    {
        var level = 0;
        while (level < line.Length && line[level] == '#')
        {
            level++;
        }

        return level is >= 1 and <= 6 && level < line.Length && line[level] == ' ' ? level : 0;
    }

    /// <summary>The main content (readability) as markdown-like text, so headings become sections the same way.</summary>
    internal static ParsedDocument ParseHtml(string html, string fallbackTitle)
    {
        var article = new SmartReader.Reader("https://knowledge.local/", html).GetArticle();
        var parser = new HtmlParser();
        IElement? root;
        string? title = null;
        if (article.IsReadable && !string.IsNullOrWhiteSpace(article.Content))
        {
            root = parser.ParseDocument("<html><body>" + article.Content + "</body></html>").Body;
            title = article.Title;
        }
        else
        {
            // Short pages are not "readable" to readability: strip the usual boilerplate by hand.
            var document = parser.ParseDocument(html);
            foreach (var junk in document.QuerySelectorAll("script, style, noscript, nav, header, footer, aside, form, template, iframe").ToList())
            {
                junk.Remove();
            }

            root = document.Body;
            title = document.Title;
        }

        var markdown = new StringBuilder();
        if (root is not null)
        {
            AppendBlocks(root, markdown);
        }

        var parsed = ParseMarkdown(markdown.ToString(), fallbackTitle, "html");
        return string.IsNullOrWhiteSpace(title) ? parsed : parsed with { Title = title.Trim() };
    }

    private static void AppendBlocks(IElement element, StringBuilder into)
    {
        foreach (var child in element.Children)
        {
            switch (child.LocalName)
            {
                case "h1" or "h2" or "h3" or "h4" or "h5" or "h6":
                    into.Append('\n').Append('#', child.LocalName[1] - '0').Append(' ').Append(Collapse(child.TextContent)).Append("\n\n");
                    break;
                case "p" or "li" or "pre" or "blockquote" or "td" or "th" or "dt" or "dd" or "figcaption" when !child.Children.Any(IsBlock):
                    into.Append(Collapse(child.TextContent)).Append("\n\n");
                    break;
                default:
                    if (child.Children.Any(IsBlock))
                    {
                        AppendBlocks(child, into);
                    }
                    else if (Collapse(child.TextContent) is { Length: > 0 } text)
                    {
                        into.Append(text).Append("\n\n");
                    }

                    break;
            }
        }
    }

    private static bool IsBlock(IElement e) => e.LocalName is "div" or "p" or "section" or "article" or "main" or "ul" or "ol" or "li" or "table"
        or "tbody" or "thead" or "tr" or "td" or "th" or "h1" or "h2" or "h3" or "h4" or "h5" or "h6" or "pre" or "blockquote" or "dl" or "dt" or "dd" or "figure";

    private static string Collapse(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static ParsedDocument ParsePdf(string fileName, byte[] bytes, string fallbackTitle)
    {
        try
        {
            using var pdf = PdfDocument.Open(bytes);
            var sections = new List<ParsedSection>();
            foreach (var page in pdf.GetPages())
            {
                var text = ContentOrderTextExtractor.GetText(page);
                if (!string.IsNullOrWhiteSpace(text))
                {
                    sections.Add(new ParsedSection([$"Page {page.Number}"], text.ReplaceLineEndings("\n")));
                }
            }

            var title = pdf.Information.Title;
            return new ParsedDocument(string.IsNullOrWhiteSpace(title) ? fallbackTitle : title.Trim(), "pdf", sections);
        }
        catch (PdfDocumentEncryptedException)
        {
            throw new KnowledgeFileException(KnowledgeErrors.Encrypted, $"'{fileName}' is password-protected: remove the password and upload it again.");
        }
        catch (Exception ex) when (ex is not KnowledgeFileException and not OutOfMemoryException)
        {
            // PdfPig throws many types for damaged files; the reason for people is the same.
            throw new KnowledgeFileException(KnowledgeErrors.Unreadable, $"'{fileName}' is not a readable PDF (it may be damaged).");
        }
    }
}
