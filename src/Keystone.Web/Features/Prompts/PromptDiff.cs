using System.Globalization;
using Keystone.Data.Prompts;
using Keystone.Web.Platform;

namespace Keystone.Web.Features.Prompts;

/// <summary>One template (or the schema) of two versions side by side: the left side keeps what was removed, the right what was added.</summary>
internal sealed record TextDiff(string Label, IReadOnlyList<WordRun> Left, IReadOnlyList<WordRun> Right)
{
    public bool Changed => Left.Any(r => r.Change != WordChange.Same) || Right.Any(r => r.Change != WordChange.Same);
}

/// <summary>One setting of two versions.</summary>
internal sealed record SettingDiff(string Label, string Left, string Right)
{
    public bool Changed => !string.Equals(Left, Right, StringComparison.Ordinal);
}

/// <summary>Two versions compared: templates and schema word by word (DiffPlex), settings value by value.</summary>
internal sealed record VersionDiff(int LeftNumber, int RightNumber, IReadOnlyList<TextDiff> Texts, IReadOnlyList<SettingDiff> Settings);

/// <summary>Side-by-side, word-level diff of two prompt versions.</summary>
internal static class PromptDiff
{
    public static VersionDiff Compare(PromptVersion left, PromptVersion right) => new(left.Number, right.Number,
        [
            Text("System template", left.SystemTemplate, right.SystemTemplate),
            Text("User template", left.UserTemplate, right.UserTemplate),
            Text("Response schema", left.ResponseSchema, right.ResponseSchema),
        ],
        [
            new("Model alias", left.ModelAlias, right.ModelAlias),
            new("Temperature", Number(left.Temperature), Number(right.Temperature)),
            new("Max tokens", left.MaxTokens?.ToString(CultureInfo.InvariantCulture) ?? "default", right.MaxTokens?.ToString(CultureInfo.InvariantCulture) ?? "default"),
            new("Note", left.Note ?? "", right.Note ?? ""),
        ]);

    /// <summary>The word diff of two texts as two sides.</summary>
    public static TextDiff Text(string label, string? left, string? right)
    {
        var (leftRuns, rightRuns) = WordDiff.SideBySide(left, right);
        return new TextDiff(label, leftRuns, rightRuns);
    }

    private static string Number(double? value) => value?.ToString("0.##", CultureInfo.InvariantCulture) ?? "default";
}
