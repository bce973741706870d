using System.Text;
using System.Text.RegularExpressions;

namespace Keystone.Web.Features.Prompts;

/// <summary>
/// <c>{{variable}}</c> templates. Rendering is one pass over the template: a value is inserted literally and is never
/// scanned again, so a caller's value that contains <c>{{other}}</c> stays that text (no template injection).
/// Variables the template does not use are ignored: a replay on an older version that used fewer variables, or an
/// API client sending a superset, must still render.
/// </summary>
internal static partial class PromptTemplate
{
    /// <summary>The variable names used by <paramref name="template"/>, in order of first use.</summary>
    public static IReadOnlyList<string> Variables(string? template)
    {
        if (string.IsNullOrEmpty(template))
        {
            return [];
        }

        return Placeholder().Matches(template).Select(m => m.Groups[1].Value).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Throws <see cref="PromptException"/> (<see cref="PromptException.MissingVariable"/>) naming <b>every</b> variable the
    /// templates use that has no value, so a caller fixes its request once rather than one variable per attempt.
    /// </summary>
    public static void EnsureVariables(IReadOnlyDictionary<string, string> variables, params string?[] templates)
    {
        var used = templates.SelectMany(Variables).Distinct(StringComparer.Ordinal).ToList();
        var missing = used.Where(name => !variables.ContainsKey(name)).ToList();
        if (missing.Count == 0)
        {
            return;
        }

        var message = missing.Count == 1
            ? $"The variable '{missing[0]}' is missing: the prompt uses {{{{{missing[0]}}}}}."
            : $"{missing.Count} variables are missing: {string.Join(", ", missing.Select(m => $"'{m}'"))}. The prompt uses {string.Join(", ", used.Select(u => $"{{{{{u}}}}}"))}.";
        throw new PromptException(PromptException.MissingVariable, message, missing[0]);
    }

    /// <summary>
    /// The template with every placeholder replaced by its value. Throws <see cref="PromptException"/>
    /// (<see cref="PromptException.MissingVariable"/>) naming every variable without a value.
    /// </summary>
    public static string Render(string? template, IReadOnlyDictionary<string, string> variables)
    {
        if (string.IsNullOrEmpty(template))
        {
            return "";
        }

        EnsureVariables(variables, template);

        var result = new StringBuilder(template.Length + 64);
        var last = 0;
        foreach (Match m in Placeholder().Matches(template))
        {
            result.Append(template, last, m.Index - last).Append(variables[m.Groups[1].Value]);
            last = m.Index + m.Length;
        }

        return result.Append(template, last, template.Length - last).ToString();
    }

    /// <summary><c>{{name}}</c>, spaces inside the braces allowed; names are letters, digits, <c>_</c>, <c>.</c> and <c>-</c>.</summary>
    [GeneratedRegex(@"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();
}
