using Ganss.Xss;
using Markdig;

namespace Keystone.Web.Components.Shared;

/// <summary>
/// Markdown from untrusted sources (model output, trace payloads) to HTML that is safe to render.
/// Two lines of defence: Markdig with raw HTML disabled (tags come out as text), then HtmlSanitizer over
/// the result, which also restricts link schemes and marks every link <c>noopener noreferrer nofollow</c>.
/// </summary>
internal static class SafeMarkdown
{
    // No generic-attributes extension ({onclick=…}) and no raw HTML: nothing a model writes becomes markup.
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .DisableHtml()
        .UsePipeTables()
        .UseGridTables()
        .UseEmphasisExtras()
        .UseAutoLinks()
        .UseListExtras()
        .Build();

    // Configured once, never mutated afterwards: Sanitize is then safe to call from any thread.
    private static readonly HtmlSanitizer Sanitizer = CreateSanitizer();

    /// <summary>Renders <paramref name="markdown"/> to sanitized HTML.</summary>
    public static string ToHtml(string? markdown)
    {
        if (string.IsNullOrEmpty(markdown))
        {
            return "";
        }

        var html = Markdig.Markdown.ToHtml(markdown, Pipeline);
        return Sanitizer.Sanitize(html);
    }

    /// <summary>
    /// Where a streaming text can be split so that the part before is finished markdown: the end of the
    /// last blank line outside a fenced code block (0 when there is none). Rendering the finished part
    /// separately keeps the per-batch work proportional to the open paragraph, not the whole answer.
    /// </summary>
    public static int StableBoundary(string text)
    {
        var boundary = 0;
        var inFence = false;
        var fenceChar = '\0';
        var fenceLength = 0;
        var lineStart = 0;
        var previousBlank = false;
        while (lineStart < text.Length)
        {
            var newline = text.IndexOf('\n', lineStart);
            if (newline < 0)
            {
                // The last line is still being written: it never closes a block.
                break;
            }

            var line = text.AsSpan(lineStart, newline - lineStart).TrimEnd('\r');
            var trimmed = line.TrimStart(' ');
            if (trimmed.Length >= 3 && (trimmed[0] == '`' || trimmed[0] == '~') && line.Length - trimmed.Length < 4)
            {
                var c = trimmed[0];
                var run = 0;
                while (run < trimmed.Length && trimmed[run] == c)
                {
                    run++;
                }

                if (run >= 3)
                {
                    if (!inFence)
                    {
                        inFence = true;
                        fenceChar = c;
                        fenceLength = run;
                    }
                    else if (c == fenceChar && run >= fenceLength && trimmed[run..].IsWhiteSpace())
                    {
                        inFence = false;
                    }
                }
            }

            var blank = line.IsWhiteSpace();
            if (!inFence && blank && !previousBlank)
            {
                boundary = newline + 1;
            }

            previousBlank = blank;
            lineStart = newline + 1;
        }

        return boundary;
    }

    private static HtmlSanitizer CreateSanitizer()
    {
        var sanitizer = new HtmlSanitizer();
        sanitizer.AllowedSchemes.Clear();
        sanitizer.AllowedSchemes.Add("http");
        sanitizer.AllowedSchemes.Add("https");
        sanitizer.AllowedSchemes.Add("mailto");
        sanitizer.AllowedAttributes.Remove("style");
        sanitizer.AllowedAttributes.Remove("id");
        // An image URL in model output fetches from a server the model chose the moment it renders: the classic
        // prompt-injection exfiltration channel. Images stay out; so does anything form-like.
        foreach (var tag in new[] { "img", "form", "input", "button", "select", "option", "textarea", "label", "fieldset" })
        {
            sanitizer.AllowedTags.Remove(tag);
        }

        // Markdig marks fenced code with class="language-x" (for highlighting and styling); no other class survives.
        sanitizer.AllowedAttributes.Add("class");
        sanitizer.PostProcessNode += (_, e) =>
        {
            if (e.Node is not AngleSharp.Dom.IElement element)
            {
                return;
            }

            if (element.GetAttribute("class") is { } classes)
            {
                var kept = string.Join(' ', classes.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .Where(c => c.StartsWith("language-", StringComparison.Ordinal)));
                if (kept.Length == 0)
                {
                    element.RemoveAttribute("class");
                }
                else
                {
                    element.SetAttribute("class", kept);
                }
            }

            if (element.LocalName == "a")
            {
                element.SetAttribute("rel", "noopener noreferrer nofollow");
                element.SetAttribute("target", "_blank");
            }
        };
        return sanitizer;
    }
}
