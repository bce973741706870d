using System.Globalization;
using DiffPlex.Chunkers;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;
using Keystone.Data.Prompts;

namespace Keystone.Web.Features.Prompts;

/// <summary>How a run of words changed between two versions.</summary>
internal enum WordChange
{
    Same,
    Removed,
    Added,
}

/// <summary>A run of words of one kind.</summary>
internal sealed record WordRun(WordChange Change, string Text);

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
    // Words and the whitespace and punctuation between them are separate pieces, so a changed word shows alone.
    private static readonly DelimiterChunker Words = new([' ', '\t', '\n', '\r', ',', '.', ';', ':', '!', '?', '{', '}', '"']);

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
        var model = InlineDiffBuilder.Instance.BuildDiffModel(left ?? "", right ?? "", ignoreWhitespace: false, ignoreCase: false, Words);
        var leftRuns = new List<WordRun>();
        var rightRuns = new List<WordRun>();
        foreach (var piece in model.Lines)
        {
            if (piece.Type == ChangeType.Imaginary || piece.Text is null)
            {
                continue;
            }

            switch (piece.Type)
            {
                case ChangeType.Deleted:
                    Append(leftRuns, WordChange.Removed, piece.Text);
                    break;
                case ChangeType.Inserted:
                    Append(rightRuns, WordChange.Added, piece.Text);
                    break;
                default:
                    Append(leftRuns, WordChange.Same, piece.Text);
                    Append(rightRuns, WordChange.Same, piece.Text);
                    break;
            }
        }

        return new TextDiff(label, leftRuns, rightRuns);
    }

    private static void Append(List<WordRun> runs, WordChange change, string text)
    {
        if (runs.Count > 0 && runs[^1].Change == change)
        {
            runs[^1] = runs[^1] with { Text = runs[^1].Text + text };
        }
        else
        {
            runs.Add(new WordRun(change, text));
        }
    }

    private static string Number(double? value) => value?.ToString("0.##", CultureInfo.InvariantCulture) ?? "default";
}
