namespace Keystone.Gateway.Tokenization;

/// <summary>
/// Counts tokens with the real o200k_base encoding (GPT-4o and later), our compact implementation
/// (<see cref="O200kBase"/>, decision 0067) of the vocabulary that Microsoft.ML.Tokenizers.Data.O200kBase ships, with
/// ids identical to Microsoft.ML.Tokenizers'. Used by the simulated provider for its usage, by the Anthropic adapter
/// to decide whether a static prefix is long enough to cache, and by the pipeline to count prompt tokens for budget
/// reservations. Thread-safe singleton: the encoding is loaded once, on the first exact count, not at start (decision
/// 0065): a gateway whose providers report usage and whose caps are far never needs it (the reservation uses
/// <see cref="UpperBoundChat"/>). Loaded, it holds about 4 MB of managed heap in five arrays (Microsoft.ML.Tokenizers'
/// tokenizer held about 40 MB); the first exact count in a process pays the load once.
/// </summary>
public sealed class TokenCounter
{
    /// <summary>OpenAI's chat format adds a few tokens per message (role and separators) and primes the reply.</summary>
    public const int TokensPerMessage = 3;

    /// <summary>Tokens that prime the assistant's reply.</summary>
    public const int ReplyPrimingTokens = 3;

    private static readonly Lazy<TokenCounter> Shared = new(() => new TokenCounter());

    private readonly Lazy<O200kBase> _vocabulary = new(O200kBase.Load);

    private O200kBase Encoding => _vocabulary.Value;

    /// <summary>Whether this counter has loaded its vocabulary (it does on the first exact count).</summary>
    public bool IsLoaded => _vocabulary.IsValueCreated;

    /// <summary>The process-wide instance (loading the encoding takes a moment; do it once).</summary>
    public static TokenCounter Instance => Shared.Value;

    /// <summary>
    /// Longest run of non-whitespace handed to the tokenizer in one piece. Byte-pair encoding of one pre-token is
    /// quadratic in its length (measured: a 100,000-letter "word" took over 20 s), so any caller could pin a core
    /// with one long word. Real words are far shorter, so normal text is counted exactly; a longer run is counted
    /// in slices, which may differ from the exact count by a token per slice.
    /// </summary>
    public const int MaxRunChars = 256;

    /// <summary>Tokens in <paramref name="text"/>.</summary>
    public int Count(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }

        var total = 0;
        foreach (var (start, length) in Segments(text))
        {
            total += Encoding.Encode(text.AsSpan(start, length), null);
        }

        return total;
    }

    /// <summary>Token ids of <paramref name="text"/> (decoding them gives the text back).</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>();
        foreach (var (start, length) in Segments(text))
        {
            Encoding.Encode(text.AsSpan(start, length), ids);
        }

        return ids;
    }

    /// <summary>The text as one segment, or cut so that no segment holds a non-whitespace run over <see cref="MaxRunChars"/>.</summary>
    internal static IEnumerable<(int Start, int Length)> Segments(string text)
    {
        var segmentStart = 0;
        var run = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsWhiteSpace(text[i]))
            {
                run = 0;
                continue;
            }

            if (++run <= MaxRunChars)
            {
                continue;
            }

            // Cut before this character, never between the halves of a surrogate pair.
            var cut = char.IsLowSurrogate(text[i]) ? i - 1 : i;
            if (cut > segmentStart)
            {
                yield return (segmentStart, cut - segmentStart);
                segmentStart = cut;
            }

            run = i - cut + 1;
        }

        if (segmentStart < text.Length)
        {
            yield return (segmentStart, text.Length - segmentStart);
        }
    }

    /// <summary>Text of token ids.</summary>
    public string Decode(IEnumerable<int> ids) => Encoding.Decode(ids);

    /// <summary>
    /// An upper bound of <see cref="Count"/>: the text's UTF-8 length. o200k_base is a byte-level BPE: every token stands
    /// for at least one byte of the UTF-8 encoding and the tokens of a piece concatenate to exactly its bytes (special
    /// tokens such as <c>&lt;|endoftext|&gt;</c> are several bytes for one token), so a piece of n bytes has at most n
    /// tokens. <see cref="Count"/> sums pieces cut at <see cref="Segments"/>, each at most its own bytes, so the sum is
    /// at most the whole text's bytes. A lone surrogate is 3 bytes here (U+FFFD) and 3 bytes to the tokenizer (its own WTF-8 bytes).
    /// Costs one vectorized pass over the characters instead of the BPE merge (about 30× cheaper on a 2 KB prompt).
    /// </summary>
    public static int UpperBound(string? text) => string.IsNullOrEmpty(text) ? 0 : System.Text.Encoding.UTF8.GetByteCount(text);

    /// <summary>
    /// An upper bound of <see cref="CountChat"/>: the same sum with each text's <see cref="UpperBound"/> in place of its
    /// count (term by term at least as large). Saturates at <see cref="int.MaxValue"/>.
    /// </summary>
    public static int UpperBoundChat(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools = null)
    {
        long total = ReplyPrimingTokens;
        foreach (var m in messages)
        {
            total += TokensPerMessage + UpperBound(m.Role) + UpperBound(m.Content) + UpperBound(m.Name);
            if (m.ToolCalls is not null)
            {
                foreach (var call in m.ToolCalls)
                {
                    total += UpperBound(call.Name) + UpperBound(call.ArgumentsJson);
                }
            }
        }

        if (tools is not null)
        {
            foreach (var tool in tools)
            {
                total += UpperBound(tool.Name) + UpperBound(tool.Description) + (tool.Parameters is { } p ? UpperBound(p.GetRawText()) : 0);
            }
        }

        return (int)Math.Min(int.MaxValue, total);
    }

    /// <summary>Prompt tokens of a chat the way OpenAI counts them: per message overhead, role, name, content and tool calls, plus reply priming.</summary>
    public int CountChat(IReadOnlyList<ChatMessage> messages, IReadOnlyList<ToolDefinition>? tools = null)
    {
        var total = ReplyPrimingTokens;
        foreach (var m in messages)
        {
            total += TokensPerMessage + Count(m.Role) + Count(m.Content) + Count(m.Name);
            if (m.ToolCalls is not null)
            {
                foreach (var call in m.ToolCalls)
                {
                    total += Count(call.Name) + Count(call.ArgumentsJson);
                }
            }
        }

        if (tools is not null)
        {
            foreach (var tool in tools)
            {
                total += Count(tool.Name) + Count(tool.Description) + (tool.Parameters is { } p ? Count(p.GetRawText()) : 0);
            }
        }

        return total;
    }
}
