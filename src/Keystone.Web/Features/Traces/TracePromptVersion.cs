using System.Globalization;
using System.Text.RegularExpressions;

namespace Keystone.Web.Features.Traces;

/// <summary>A prompt version named by number in the search form: <c>support-reply@2</c>, or <c>2</c> / <c>v2</c> with the prompt field filled.</summary>
internal sealed partial record TracePromptVersion(string Prompt, int Number)
{
    /// <summary>The named version, or null when <paramref name="text"/> is empty, an id, or not of that shape.</summary>
    public static TracePromptVersion? TryParse(string? text, string? promptField)
    {
        if (string.IsNullOrWhiteSpace(text) || Guid.TryParse(text, out _))
        {
            return null;
        }

        var m = Pattern().Match(text.Trim());
        if (!m.Success || !int.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1)
        {
            return null;
        }

        var prompt = m.Groups[1].Success ? m.Groups[1].Value : promptField?.Trim();
        return string.IsNullOrEmpty(prompt) ? null : new TracePromptVersion(prompt.ToLowerInvariant(), number);
    }

    [GeneratedRegex(@"^(?:([A-Za-z0-9-]+)@)?v?(\d{1,9})$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
