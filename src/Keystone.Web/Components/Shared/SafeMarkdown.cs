using Ganss.Xss;
using Markdig;

namespace Keystone.Web.Components.Shared;

/// <summary>
/// Markdown from untrusted sources (model output, trace payloads) to HTML that is safe to render: Markdig
/// with raw HTML disabled (tags come out as text), then HtmlSanitizer, which keeps only http, https and
/// mailto links and marks every link <c>noopener</c>.
/// </summary>
public static class SafeMarkdown
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .DisableHtml()
        .UsePipeTables()
        .UseEmphasisExtras()
        .UseAutoLinks()
        .Build();

    // Configured once and never mutated afterwards, so Sanitize is safe from any thread.
    private static readonly HtmlSanitizer Sanitizer = CreateSanitizer();

    /// <summary>Renders <paramref name="markdown"/> to sanitized HTML.</summary>
    public static string ToHtml(string? markdown) => string.IsNullOrEmpty(markdown)
        ? ""
        : Sanitizer.Sanitize(Markdig.Markdown.ToHtml(markdown, Pipeline));

    private static HtmlSanitizer CreateSanitizer()
    {
        var sanitizer = new HtmlSanitizer();
        sanitizer.AllowedSchemes.Clear();
        sanitizer.AllowedSchemes.Add("http");
        sanitizer.AllowedSchemes.Add("https");
        sanitizer.AllowedSchemes.Add("mailto");
        sanitizer.AllowedAttributes.Remove("style");
        // Images in model output would fetch from a server the model chose as soon as they render.
        sanitizer.AllowedTags.Remove("img");
        sanitizer.PostProcessNode += (_, e) =>
        {
            if (e.Node is AngleSharp.Dom.IElement { LocalName: "a" } link)
            {
                link.SetAttribute("rel", "noopener noreferrer nofollow");
                link.SetAttribute("target", "_blank");
            }
        };
        return sanitizer;
    }
}
