using System.Buffers;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace Keystone.Gateway.Tokenization;

/// <summary>
/// The o200k_base byte-pair encoding (GPT-4o and later), held compactly (decision 0067): every token's bytes in one
/// blob in rank order, a rank-indexed offset array and an open-addressing hash table from bytes to rank. About 4 MB of
/// managed heap in five arrays, against about 40 MB for Microsoft.ML.Tokenizers' three 200,000-entry dictionaries
/// with a string and a byte array per token. The ranks are read once from the vocabulary that the
/// Microsoft.ML.Tokenizers.Data.O200kBase package embeds (the tiktoken file, deflated).
/// The algorithm is tiktoken's: the text is cut at the special tokens, each stretch between them is split by the
/// o200k pre-tokenizer regex, a piece that is itself a token is that token, and any other piece is encoded byte by
/// byte and merged pairwise, always merging the adjacent pair whose merged bytes have the lowest rank (leftmost on a
/// tie). Every step matches what Microsoft.ML.Tokenizers 2.0.1 does, so ids are identical (the tests compare both on
/// a varied corpus); the details that matter for that are commented where they are done.
/// Immutable after construction, so one instance is shared by all threads.
/// </summary>
internal sealed partial class O200kBase
{
    /// <summary>The special tokens of o200k_base (tiktoken's and Microsoft.ML.Tokenizers' list).</summary>
    private static readonly (string Text, int Id)[] Specials = [("<|endoftext|>", 199999), ("<|endofprompt|>", 200018)];

    // The pre-tokenizer of o200k_base, as tiktoken publishes it and Microsoft.ML.Tokenizers runs it (.NET regex, no
    // options). No look-behind and no anchors, so matching a stretch in one pass finds the same pieces as restarting
    // at each match's end (which is what Microsoft.ML.Tokenizers does).
    private const string Pattern =
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?" +
        @"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?" +
        @"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    [GeneratedRegex(Pattern)]
    private static partial Regex PreTokens();

    private readonly byte[] _bytes;
    private readonly int[] _starts;
    private readonly int[] _slots;
    private readonly int _mask;

    private O200kBase(byte[] bytes, int[] starts, int[] slots)
    {
        _bytes = bytes;
        _starts = starts;
        _slots = slots;
        _mask = slots.Length - 1;
    }

    /// <summary>Ranks in the vocabulary (the special tokens not counted).</summary>
    public int RankCount { get; private init; }

    /// <summary>Managed bytes held by the three tables (for the benchmark and the decision record).</summary>
    internal (long Blob, long Offsets, long Slots) TableBytes => (_bytes.LongLength, 4L * _starts.Length, 4L * _slots.Length);

    /// <summary>Reads the vocabulary embedded in Microsoft.ML.Tokenizers.Data.O200kBase.</summary>
    public static O200kBase Load()
    {
        var assembly = Assembly.Load(new AssemblyName("Microsoft.ML.Tokenizers.Data.O200kBase"));
        var resource = assembly.GetManifestResourceNames().Single(n => n.EndsWith("o200k_base.tiktoken.deflate", StringComparison.Ordinal));
        using var stream = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The o200k_base vocabulary resource '{resource}' could not be opened.");
        using var inflated = new DeflateStream(stream, CompressionMode.Decompress);
        return Read(inflated);
    }

    /// <summary>
    /// Reads a tiktoken rank file as Microsoft.ML.Tokenizers does: an optional "Capacity: n" first line, then either one
    /// "base64-bytes rank" line per token, or (the packaged data's form) one base64 line per token whose rank is its
    /// line number counted from the first token line, an empty line taking a rank of its own. Ranks must ascend and
    /// may leave gaps; a gap is a token of no bytes that is never looked up.
    /// </summary>
    internal static O200kBase Read(Stream tiktoken)
    {
        using var reader = new StreamReader(tiktoken, Encoding.UTF8);
        var bytes = new byte[2 * 1024 * 1024];
        var used = 0;
        var starts = new int[256 * 1024];
        var ranks = 0;
        Span<byte> decoded = stackalloc byte[512];
        var line = reader.ReadLine();
        if (line is not null && line.StartsWith("Capacity: ", StringComparison.Ordinal))
        {
            line = reader.ReadLine();
        }

        while (line is not null && line.Length == 0)
        {
            line = reader.ReadLine();
        }

        var numbered = line is not null && line.IndexOf(' ') < 0;
        for (var lineNumber = 0; line is not null; line = reader.ReadLine(), lineNumber++)
        {
            if (line.Length == 0)
            {
                continue;
            }

            var space = numbered ? line.Length : line.IndexOf(' ');
            var rank = lineNumber;
            if (space <= 0
                || (!numbered && !int.TryParse(line.AsSpan(space + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out rank))
                || rank < ranks || !Convert.TryFromBase64Chars(line.AsSpan(0, space), decoded, out var length) || length == 0)
            {
                throw new InvalidDataException($"The o200k_base vocabulary has a line that is not a token in ascending rank order: '{line}'.");
            }

            if (rank + 2 > starts.Length)
            {
                Array.Resize(ref starts, Math.Max(starts.Length * 2, rank + 2));
            }

            // A gap in the ranks: the missing ranks hold no bytes.
            for (; ranks < rank; ranks++)
            {
                starts[ranks + 1] = used;
            }

            if (used + length > bytes.Length)
            {
                Array.Resize(ref bytes, bytes.Length * 2);
            }

            decoded[..length].CopyTo(bytes.AsSpan(used));
            used += length;
            starts[++ranks] = used;
        }

        Array.Resize(ref bytes, used);
        Array.Resize(ref starts, ranks + 1);

        // Open addressing with linear probing at a load factor under one half: a lookup is a hash and, nearly always,
        // one comparison. A slot holds rank + 1 (0 is empty).
        var capacity = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, ranks * 2));
        var slots = new int[capacity];
        var mask = capacity - 1;
        for (var rank = 0; rank < ranks; rank++)
        {
            var token = bytes.AsSpan(starts[rank], starts[rank + 1] - starts[rank]);
            if (token.IsEmpty)
            {
                continue;
            }

            var slot = (int)Hash(token) & mask;
            while (slots[slot] != 0)
            {
                slot = (slot + 1) & mask;
            }

            slots[slot] = rank + 1;
        }

        return new O200kBase(bytes, starts, slots) { RankCount = ranks };
    }

    /// <summary>The rank of a token's bytes, or -1 when they are not a token.</summary>
    internal int Rank(ReadOnlySpan<byte> token)
    {
        var slot = (int)Hash(token) & _mask;
        while (true)
        {
            var entry = _slots[slot];
            if (entry == 0)
            {
                return -1;
            }

            var rank = entry - 1;
            var start = _starts[rank];
            if (_starts[rank + 1] - start == token.Length && _bytes.AsSpan(start, token.Length).SequenceEqual(token))
            {
                return rank;
            }

            slot = (slot + 1) & _mask;
        }
    }

    private static uint Hash(ReadOnlySpan<byte> bytes)
    {
        // FNV-1a, then a final mix so that the low bits (the slot) depend on every byte.
        var h = 2166136261u;
        foreach (var b in bytes)
        {
            h = (h ^ b) * 16777619u;
        }

        h ^= h >> 15;
        h *= 0x2C1B3C6Du;
        h ^= h >> 12;
        return h;
    }

    /// <summary>Tokens of <paramref name="text"/>, appended to <paramref name="ids"/> when given; returns how many.</summary>
    public int Encode(ReadOnlySpan<char> text, List<int>? ids)
    {
        var count = 0;
        while (!text.IsEmpty)
        {
            var (at, special) = NextSpecial(text);
            var stretch = at < 0 ? text : text[..at];
            foreach (var match in PreTokens().EnumerateMatches(stretch))
            {
                count += EncodePiece(stretch.Slice(match.Index, match.Length), ids);
            }

            if (at < 0)
            {
                break;
            }

            // A special token in the text is that token (Microsoft.ML.Tokenizers splits them out before the regex,
            // as tiktoken's encode with every special allowed does).
            ids?.Add(Specials[special].Id);
            count++;
            text = text[(at + Specials[special].Text.Length)..];
        }

        return count;
    }

    private static (int At, int Special) NextSpecial(ReadOnlySpan<char> text)
    {
        var offset = 0;
        while (true)
        {
            var at = text[offset..].IndexOf("<|", StringComparison.Ordinal);
            if (at < 0)
            {
                return (-1, -1);
            }

            at += offset;
            for (var i = 0; i < Specials.Length; i++)
            {
                if (text[at..].StartsWith(Specials[i].Text, StringComparison.Ordinal))
                {
                    return (at, i);
                }
            }

            offset = at + 1;
        }
    }

    private int EncodePiece(ReadOnlySpan<char> piece, List<int>? ids)
    {
        byte[]? rented = null;
        var maxBytes = piece.Length * 3;
        var utf8 = maxBytes <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            var length = ToUtf8(piece, utf8, out var replaced);
            var bytes = utf8[..length];

            // A piece that is one token is that token. Microsoft.ML.Tokenizers finds it by its text in a dictionary
            // that leaves out tokens whose bytes decode with a U+FFFD (invalid UTF-8, or U+FFFD itself); a piece with a
            // lone surrogate or a U+FFFD never matches there and goes through the merge like any other.
            if (!replaced && piece.IndexOf('\uFFFD') < 0 && Rank(bytes) is var whole and >= 0)
            {
                ids?.Add(whole);
                return 1;
            }

            return Merge(bytes, ids);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// UTF-16 to UTF-8 as Microsoft.ML.Tokenizers does it: a lone surrogate is written as its own three bytes
    /// (ED A0 80 to ED BF BF, as WTF-8 would), not as U+FFFD. <paramref name="loneSurrogate"/> says whether there was one.
    /// </summary>
    private static int ToUtf8(ReadOnlySpan<char> text, Span<byte> destination, out bool loneSurrogate)
    {
        loneSurrogate = false;
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            uint c = text[i];
            if (c < 0x80)
            {
                destination[n++] = (byte)c;
            }
            else if (c < 0x800)
            {
                destination[n++] = (byte)(0xC0 | (c >> 6));
                destination[n++] = (byte)(0x80 | (c & 0x3F));
            }
            else if (char.IsHighSurrogate((char)c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                var scalar = (uint)char.ConvertToUtf32((char)c, text[++i]);
                destination[n++] = (byte)(0xF0 | (scalar >> 18));
                destination[n++] = (byte)(0x80 | ((scalar >> 12) & 0x3F));
                destination[n++] = (byte)(0x80 | ((scalar >> 6) & 0x3F));
                destination[n++] = (byte)(0x80 | (scalar & 0x3F));
            }
            else
            {
                loneSurrogate |= char.IsSurrogate((char)c);
                destination[n++] = (byte)(0xE0 | (c >> 12));
                destination[n++] = (byte)(0x80 | ((c >> 6) & 0x3F));
                destination[n++] = (byte)(0x80 | (c & 0x3F));
            }
        }

        return n;
    }

    /// <summary>
    /// Text of token ids: their bytes concatenated and read as UTF-8, an invalid sequence (a character cut between
    /// tokens) becoming U+FFFD. A special token gives its text; an id that is no token gives nothing.
    /// </summary>
    public string Decode(IEnumerable<int> ids)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        foreach (var id in ids)
        {
            if (id >= 0 && id < RankCount)
            {
                buffer.Write(_bytes.AsSpan(_starts[id], _starts[id + 1] - _starts[id]));
                continue;
            }

            foreach (var (text, special) in Specials)
            {
                if (special == id)
                {
                    buffer.Write(Encoding.UTF8.GetBytes(text));
                }
            }
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
