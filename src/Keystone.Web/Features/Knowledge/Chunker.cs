using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Keystone.Gateway.Tokenization;

namespace Keystone.Web.Features.Knowledge;

/// <summary>A chunk before it is stored.</summary>
internal sealed record ChunkDraft(int Position, string Section, string Header, string Text, string ContentHash, int TokenCount);

/// <summary>
/// Cuts a parsed document at semantic boundaries: a section (heading) always starts a new chunk; inside a section,
/// whole paragraphs are packed up to the token budget (header included, counted with the gateway's o200k tokenizer),
/// a paragraph too long for one chunk is cut between sentences, and the next chunk of the same section starts with the
/// last sentences of the previous one (up to the overlap) so an answer that spans the cut is found from either side.
/// Only a single sentence longer than a whole chunk is ever cut inside (at word boundaries): it has no better place.
/// </summary>
internal sealed partial class Chunker(TokenCounter tokens, int chunkTokens, int overlapTokens)
{
    public const string HeaderSeparator = " › ";

    public IReadOnlyList<ChunkDraft> Chunk(ParsedDocument document)
    {
        var drafts = new List<ChunkDraft>();
        foreach (var section in document.Sections)
        {
            var sectionName = string.Join(HeaderSeparator, section.Headings);
            var header = sectionName.Length == 0 ? document.Title : document.Title + HeaderSeparator + sectionName;
            header = Cut(header, Data.Knowledge.KnowledgeChunk.HeaderMaxLength);
            var budget = Math.Max(32, chunkTokens - tokens.Count(header) - 2);
            foreach (var text in Pack(Sentences(section.Text), budget))
            {
                drafts.Add(new ChunkDraft(drafts.Count, Cut(sectionName, Data.Knowledge.KnowledgeChunk.SectionMaxLength), header, text,
                    HashOf(header, text), tokens.Count(header) + tokens.Count(text)));
            }
        }

        return drafts;
    }

    /// <summary>What an embedding model and the text index see: the header on its own line, then the text.</summary>
    public static string EmbeddingText(string header, string text) => header + "\n\n" + text;

    public static string HashOf(string header, string text)
        => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(EmbeddingText(header, text))));

    /// <summary>Sentences in order, each marked when it ends a paragraph (paragraph breaks are kept in the chunk text).</summary>
    private static IEnumerable<(string Text, bool EndsParagraph)> Sentences(string text)
    {
        foreach (var paragraph in ParagraphBreak().Split(text))
        {
            var p = paragraph.Trim();
            if (p.Length == 0)
            {
                continue;
            }

            var sentences = SentenceEnd().Split(p).Where(s => s.Length > 0).ToList();
            for (var i = 0; i < sentences.Count; i++)
            {
                yield return (sentences[i], i == sentences.Count - 1);
            }
        }
    }

    private IEnumerable<string> Pack(IEnumerable<(string Text, bool EndsParagraph)> sentences, int budget)
    {
        var current = new List<(string Text, bool EndsParagraph, int Tokens)>();
        var used = 0;
        var fresh = 0; // sentences in current that are not overlap
        foreach (var (sentence, endsParagraph) in sentences)
        {
            foreach (var piece in Fit(sentence, budget))
            {
                var count = tokens.Count(piece) + 1;
                if (used + count > budget && fresh > 0)
                {
                    yield return Join(current);
                    current = Overlap(current);
                    used = current.Sum(c => c.Tokens);
                    fresh = 0;
                    // An overlap that leaves no room for the next sentence is dropped rather than cut.
                    if (used + count > budget)
                    {
                        current.Clear();
                        used = 0;
                    }
                }

                current.Add((piece, endsParagraph, count));
                used += count;
                fresh++;
            }
        }

        if (fresh > 0)
        {
            yield return Join(current);
        }
    }

    private List<(string Text, bool EndsParagraph, int Tokens)> Overlap(List<(string Text, bool EndsParagraph, int Tokens)> chunk)
    {
        var kept = new List<(string Text, bool EndsParagraph, int Tokens)>();
        var total = 0;
        for (var i = chunk.Count - 1; i > 0 && total + chunk[i].Tokens <= overlapTokens; i--)
        {
            kept.Insert(0, chunk[i]);
            total += chunk[i].Tokens;
        }

        return kept;
    }

    /// <summary>The sentence whole, or (longer than a chunk) cut at word boundaries into chunk-sized pieces.</summary>
    private IEnumerable<string> Fit(string sentence, int budget)
    {
        if (tokens.Count(sentence) <= budget)
        {
            yield return sentence;
            yield break;
        }

        var piece = new StringBuilder();
        foreach (var word in sentence.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (piece.Length > 0 && tokens.Count(piece + " " + word) > budget)
            {
                yield return piece.ToString();
                piece.Clear();
            }

            piece.Append(piece.Length > 0 ? " " : "").Append(word);
        }

        if (piece.Length > 0)
        {
            yield return piece.ToString();
        }
    }

    private static string Join(List<(string Text, bool EndsParagraph, int Tokens)> sentences)
    {
        var sb = new StringBuilder();
        foreach (var (text, endsParagraph, _) in sentences)
        {
            sb.Append(text).Append(endsParagraph ? "\n\n" : " ");
        }

        return sb.ToString().Trim();
    }

    private static string Cut(string text, int max) => text.Length <= max ? text : text[..max];

    [GeneratedRegex(@"\n\s*\n")]
    private static partial Regex ParagraphBreak();

    /// <summary>After . ! ? (and a closing quote or bracket) followed by white space; a line break inside a paragraph also ends a list item.</summary>
    [GeneratedRegex(@"(?<=[.!?][""')\]]?)\s+|\n(?=\s*(?:[-*+]|\d+[.)])\s)")]
    private static partial Regex SentenceEnd();
}
