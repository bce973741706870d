using DiffPlex.Chunkers;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;

namespace Keystone.Web.Features.Traces;

/// <summary>How a piece of the diff changed.</summary>
internal enum DiffKind
{
    Same,
    Removed,
    Added,
}

/// <summary>One run of words in the diff.</summary>
internal sealed record DiffSegment(DiffKind Kind, string Text);

/// <summary>Word-level diff of two answers (DiffPlex), with consecutive pieces of one kind merged.</summary>
internal static class AnswerDiff
{
    public static IReadOnlyList<DiffSegment> Compute(string? before, string? after)
    {
        var model = InlineDiffBuilder.Instance.BuildDiffModel(before ?? "", after ?? "", ignoreWhitespace: false, ignoreCase: false,
            new DelimiterChunker([' ', '\t', '\n', '\r', ',', '.', ';', ':', '!', '?']));
        var segments = new List<DiffSegment>();
        foreach (var piece in model.Lines)
        {
            var kind = piece.Type switch
            {
                ChangeType.Deleted => DiffKind.Removed,
                ChangeType.Inserted => DiffKind.Added,
                _ => DiffKind.Same,
            };
            if (piece.Type == ChangeType.Imaginary || piece.Text is null)
            {
                continue;
            }

            if (segments.Count > 0 && segments[^1].Kind == kind)
            {
                segments[^1] = segments[^1] with { Text = segments[^1].Text + piece.Text };
            }
            else
            {
                segments.Add(new DiffSegment(kind, piece.Text));
            }
        }

        return segments;
    }
}
