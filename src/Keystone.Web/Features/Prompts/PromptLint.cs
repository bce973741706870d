using System.Globalization;

namespace Keystone.Web.Features.Prompts;

/// <summary>How serious a finding is: a warning costs money or breaks a render, a note is tidying.</summary>
internal enum PromptFindingLevel
{
    Note,
    Warning,
}

/// <summary>One thing the editor tells the author about the templates as they type.</summary>
/// <param name="Level">Warning or note.</param>
/// <param name="Code">Machine-readable: <c>undeclared</c>, <c>unused</c>, <c>variable_before_static</c>, <c>stray_braces</c>.</param>
/// <param name="Message">The sentence shown.</param>
internal sealed record PromptFinding(PromptFindingLevel Level, string Code, string Message);

/// <summary>
/// The editor's checks on a draft: variables used but not declared (the prompt's sample variables are its
/// declaration), declared but unused, a variable placed before a long fixed section (everything after the first
/// variable differs per call, so the provider's prompt cache cannot reuse it), and <c>{{</c> that opens no variable.
/// </summary>
internal static class PromptLint
{
    /// <summary>Fixed text after the first variable from which the placement is worth a warning (tokens).</summary>
    public const int LongStaticTokens = 256;

    public const string Undeclared = "undeclared";
    public const string Unused = "unused";
    public const string VariableBeforeStatic = "variable_before_static";
    public const string StrayBraces = "stray_braces";

    /// <param name="system">The system template (sent first).</param>
    /// <param name="user">The user template.</param>
    /// <param name="declared">The prompt's declared variables (its sample variables' names).</param>
    /// <param name="countTokens">The gateway's tokenizer.</param>
    public static IReadOnlyList<PromptFinding> Check(string? system, string? user, IReadOnlyCollection<string> declared, Func<string, int> countTokens)
    {
        var findings = new List<PromptFinding>();
        var used = PromptTemplate.Variables(system).Concat(PromptTemplate.Variables(user)).Distinct(StringComparer.Ordinal).ToList();
        foreach (var name in used.Where(u => !declared.Contains(u)))
        {
            findings.Add(new(PromptFindingLevel.Warning, Undeclared,
                $"{{{{{name}}}}} is not a declared variable: add it to the sample variables (the preview, the cost estimate and test runs need a value)."));
        }

        foreach (var name in declared.Where(d => !used.Contains(d, StringComparer.Ordinal)).Order(StringComparer.Ordinal))
        {
            findings.Add(new(PromptFindingLevel.Note, Unused, $"The variable '{name}' is declared but no template of this draft uses it."));
        }

        foreach (var (label, template) in new[] { ("system", system), ("user", user) })
        {
            foreach (var at in PromptTemplate.StrayOpenings(template))
            {
                findings.Add(new(PromptFindingLevel.Warning, StrayBraces,
                    $"'{{{{' in the {label} template at line {LineOf(template!, at)} opens no variable: names are letters, digits, _ . - (callers will see the braces as text)."));
            }
        }

        if (FirstVariableBeforeStatic(system, user, countTokens) is { } placement && placement.StaticTokensAfter >= LongStaticTokens)
        {
            findings.Add(new(PromptFindingLevel.Warning, VariableBeforeStatic,
                $"{{{{{placement.Variable}}}}} (the {placement.Template} template, line {placement.Line}) comes before {placement.StaticTokensAfter.ToString("N0", CultureInfo.InvariantCulture)} tokens of fixed text: "
                + "everything after a variable changes per call, so the provider's prompt cache cannot reuse it. Put fixed instructions and examples first."));
        }

        return findings;
    }

    /// <summary>The first variable in send order (system, then user) and how much fixed text follows it; null without variables.</summary>
    public static VariablePlacement? FirstVariableBeforeStatic(string? system, string? user, Func<string, int> countTokens)
    {
        var templates = new[] { ("system", system ?? ""), ("user", user ?? "") };
        for (var t = 0; t < templates.Length; t++)
        {
            var parts = PromptTemplate.Parts(templates[t].Item2);
            var first = parts.FirstOrDefault(p => p.Variable is not null);
            if (first is null)
            {
                continue;
            }

            var after = parts.Where(p => p.Variable is null && p.Start > first.Start).Select(p => p.Text)
                .Concat(templates.Skip(t + 1).SelectMany(x => PromptTemplate.Parts(x.Item2)).Where(p => p.Variable is null).Select(p => p.Text));
            var tokens = after.Sum(text => string.IsNullOrWhiteSpace(text) ? 0 : countTokens(text));
            return new VariablePlacement(first.Variable!, templates[t].Item1, LineOf(templates[t].Item2, first.Start), tokens);
        }

        return null;
    }

    private static int LineOf(string text, int index) => text.AsSpan(0, index).Count('\n') + 1;
}

/// <summary>The first variable of a prompt in send order.</summary>
/// <param name="Variable">Its name.</param>
/// <param name="Template"><c>system</c> or <c>user</c>.</param>
/// <param name="Line">Its line in that template (1-based).</param>
/// <param name="StaticTokensAfter">Tokens of fixed text after it (the part a prompt cache cannot reuse).</param>
internal sealed record VariablePlacement(string Variable, string Template, int Line, int StaticTokensAfter);
