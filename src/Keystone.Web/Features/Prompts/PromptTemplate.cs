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

    /// <summary>
    /// The template cut into fixed text and placeholders, in order (the editor highlights the placeholders and the
    /// cache advisor measures the fixed text around them). Concatenating every <see cref="TemplatePart.Text"/> gives
    /// the template back.
    /// </summary>
    public static IReadOnlyList<TemplatePart> Parts(string? template)
    {
        if (string.IsNullOrEmpty(template))
        {
            return [];
        }

        var parts = new List<TemplatePart>();
        var last = 0;
        foreach (Match m in Placeholder().Matches(template))
        {
            if (m.Index > last)
            {
                parts.Add(new TemplatePart(template[last..m.Index], null, last));
            }

            parts.Add(new TemplatePart(m.Value, m.Groups[1].Value, m.Index));
            last = m.Index + m.Length;
        }

        if (last < template.Length)
        {
            parts.Add(new TemplatePart(template[last..], null, last));
        }

        return parts;
    }

    /// <summary>
    /// The template with the placeholders that have a value replaced and the others left as written: the editor's
    /// preview renders what it can while a sample is still missing (the lint names it).
    /// </summary>
    public static string RenderAvailable(string? template, IReadOnlyDictionary<string, string> variables)
    {
        var result = new StringBuilder((template?.Length ?? 0) + 64);
        foreach (var part in Parts(template))
        {
            result.Append(part.Variable is { } name && variables.TryGetValue(name, out var value) ? value : part.Text);
        }

        return result.ToString();
    }

    /// <summary>Positions of <c>{{</c> that do not open a valid placeholder (a typo such as <c>{{ 1st }}</c> or an unclosed brace).</summary>
    public static IReadOnlyList<int> StrayOpenings(string? template)
    {
        if (string.IsNullOrEmpty(template))
        {
            return [];
        }

        var valid = Placeholder().Matches(template).Select(m => m.Index).ToHashSet();
        var stray = new List<int>();
        for (var i = template.IndexOf("{{", StringComparison.Ordinal); i >= 0; i = template.IndexOf("{{", i + 2, StringComparison.Ordinal))
        {
            if (!valid.Contains(i))
            {
                stray.Add(i);
            }
        }

        return stray;
    }

    /// <summary>True when <paramref name="name"/> can be a variable (what a placeholder may name).</summary>
    public static bool IsVariableName(string? name) => name is { Length: > 0 and <= 100 } && VariableName().IsMatch(name);

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.\-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex VariableName();

    /// <summary><c>{{name}}</c>, spaces inside the braces allowed; names are letters, digits, <c>_</c>, <c>.</c> and <c>-</c>.</summary>
    [GeneratedRegex(@"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();
}

/// <summary>A piece of a template: fixed text (<see cref="Variable"/> null) or a placeholder.</summary>
/// <param name="Text">The text as written (for a placeholder, with its braces).</param>
/// <param name="Variable">The variable's name for a placeholder; null for fixed text.</param>
/// <param name="Start">Where the piece starts in the template (characters).</param>
internal sealed record TemplatePart(string Text, string? Variable, int Start);
