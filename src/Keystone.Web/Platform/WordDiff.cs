using DiffPlex.Chunkers;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;

namespace Keystone.Web.Platform;

/// <summary>How a run of words changed between two texts.</summary>
internal enum WordChange
{
    Same,
    Removed,
    Added,
}

/// <summary>A run of words of one kind (consecutive pieces of one kind merged).</summary>
internal sealed record WordRun(WordChange Change, string Text);

/// <summary>
/// Word-level diff of two texts (DiffPlex), one implementation for every page that compares: a replayed answer with
/// the original (inline) and two prompt versions (side by side).
/// </summary>
internal static class WordDiff
{
    // Words and the whitespace and punctuation between them are separate pieces, so a changed word shows alone
    // (braces and quotes too: a template's {{variable}} or a JSON key changes alone).
    private static readonly DelimiterChunker Words = new([' ', '\t', '\n', '\r', ',', '.', ';', ':', '!', '?', '{', '}', '"']);

    /// <summary>One sequence: what stayed, what was removed and what was added, in reading order.</summary>
    public static IReadOnlyList<WordRun> Inline(string? before, string? after)
    {
        var runs = new List<WordRun>();
        foreach (var (change, text) in Pieces(before, after))
        {
            Append(runs, change, text);
        }

        return runs;
    }

    /// <summary>Two sides: the left keeps what was removed, the right what was added; both keep what stayed.</summary>
    public static (IReadOnlyList<WordRun> Left, IReadOnlyList<WordRun> Right) SideBySide(string? left, string? right)
    {
        var leftRuns = new List<WordRun>();
        var rightRuns = new List<WordRun>();
        foreach (var (change, text) in Pieces(left, right))
        {
            if (change != WordChange.Added)
            {
                Append(leftRuns, change, text);
            }

            if (change != WordChange.Removed)
            {
                Append(rightRuns, change, text);
            }
        }

        return (leftRuns, rightRuns);
    }

    private static IEnumerable<(WordChange Change, string Text)> Pieces(string? before, string? after)
    {
        var model = InlineDiffBuilder.Instance.BuildDiffModel(before ?? "", after ?? "", ignoreWhitespace: false, ignoreCase: false, Words);
        foreach (var piece in model.Lines)
        {
            if (piece.Type == ChangeType.Imaginary || piece.Text is null)
            {
                continue;
            }

            yield return (piece.Type switch
            {
                ChangeType.Deleted => WordChange.Removed,
                ChangeType.Inserted => WordChange.Added,
                _ => WordChange.Same,
            }, piece.Text);
        }
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
}
