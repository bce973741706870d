using System.Text;
using Keystone.Gateway.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Keystone.Gateway.Tests.Tokenization;

/// <summary>
/// Keystone's compact o200k_base (decision 0067) against Microsoft.ML.Tokenizers' as the oracle: the same ids, counts
/// and decoded text on a large varied corpus, and the same vocabulary rank for rank.
/// </summary>
public sealed class O200kBaseTests
{
    private static readonly TokenCounter Counter = TokenCounter.Instance;

    // A fresh oracle per test: Microsoft.ML.Tokenizers keeps its special tokens in an LRU cache of pieces (8,192 entries),
    // so a long-lived instance could in principle evict them; a fresh one always treats them as special.
    private static TiktokenTokenizer Oracle() => TiktokenTokenizer.CreateForEncoding("o200k_base");

    /// <summary>What the previous TokenCounter returned: the oracle's ids per guarded segment.</summary>
    private static List<int> OracleIds(TiktokenTokenizer oracle, string text)
    {
        var ids = new List<int>();
        foreach (var (start, length) in TokenCounter.Segments(text))
        {
            ids.AddRange(oracle.EncodeToIds(text.AsSpan(start, length)));
        }

        return ids;
    }

    public static TheoryData<string, string> Cases() => new()
    {
        { "prose", "The quick brown fox jumps over the lazy dog. It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife." },
        { "contractions", "I'm sure you'll see they've gone; we'd said it's HE'S, SHE'LL, THEY'RE, WE'VE, I'M, YOU'D, IT'S, DON'T, can't, Won'T, o'clock, rock'n'roll, ’s and ‘quoted’ 'single' \"double\"" },
        { "code", "public static int Main(string[] args)\r\n{\r\n\tfor (var i = 0; i < args.Length; i++) { Console.WriteLine($\"{i}: {args[i]}\"); }\r\n\treturn 0; // done\r\n}\n\ndef f(x):\n    return x**2 + 3*x - 1  # poly\n" },
        { "json", "{\"id\":\"call_7\",\"type\":\"function\",\"arguments\":{\"city\":\"Zürich\",\"days\":[1,2,3],\"units\":null,\"nested\":{\"a\":-1.5e10,\"b\":true}}}" },
        { "numbers and dates", "2026-12-07T04:05:00Z 1234567890 3.14159265358979 1,000,000.00 $12.50 -42 +7 0x1F 1e-9 12/25/2025 25.12.2025 ٣٤٥ १२३ ４５６ ½ ² ³ ⅷ" },
        { "whitespace runs", "a  b   c    d\t\te\n\n\nf \n \n g\r\n\r\nh      \n      i" + new string(' ', 300) + "j" + new string('\n', 40) + "k \t \r\n\t " },
        { "crlf", "line one\r\nline two\r\n\r\n\rline three\n\rfour\r" },
        { "cjk", "東京は日本の首都です。我爱北京天安门。한국어 텍스트도 있습니다。カタカナとひらがな、漢字の混在。" },
        { "arabic and hebrew", "مرحبا بالعالم، هذا نص عربي مع تشكيل: مُحَمَّد. שלום עולם, זה טקסט בעברית." },
        { "indic", "नमस्ते दुनिया, यह हिंदी पाठ है। বাংলা লেখা। தமிழ் உரை. ગુજરાતી ਪੰਜਾਬੀ" },
        { "cyrillic greek thai", "Привет, мир! Ελληνικά γράμματα. สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่าง" },
        { "emoji", "🙂👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️‍🔥 🇩🇪🇯🇵 1️⃣ #️⃣ 🧑🏿‍💻 done ✅" },
        { "combining marks", "e\u0301 a\u0308 n\u0303 Z\u0351\u036b\u0343\u036a\u0302 \u0301alone o\u0336\u0336 ǅungla Ǉ ǈ" },
        { "lone surrogates", "before \uD800 middle \uDC00 end\uD83D" + "x\uDE42y \uDBFF\uDFFF ok" },
        { "replacement char", "bad \uFFFD byte \uFFFD\uFFFD and � again" },
        { "special tokens", "Hello<|endoftext|>world <|endofprompt|> and <|endoftext|><|endoftext|> not <|endof|> nor <|im_start|> nor <| endoftext|>" },
        { "special at edges", "<|endoftext|>   <|endofprompt|>" },
        { "urls and paths", "https://example.com/a/b?c=d&e=f#g C:\\Users\\me\\file.txt /usr/local/bin/ ../../x.y ~/.config" },
        { "punctuation", "!!! ??? ... --- ___ *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}} <<< >>> ||| ;;; ::: ,,, ''' \"\"\" ``` ~~~ // \\\\ /\n/\r\n" },
        { "mixed case words", "camelCaseWord PascalCaseWord snake_case_word SCREAMING_CASE kebab-case XMLHttpRequest iPhone eBay McDonald ÉCOLE Straße İstanbul ǅ" },
    };

    // Not enumerated at discovery: xUnit would serialize the texts, and serializing turns lone surrogates into U+FFFD.
    [Theory]
    [MemberData(nameof(Cases), DisableDiscoveryEnumeration = true)]
    public void Encode_Case_IdsEqualTheOracles(string name, string text)
    {
        var oracle = Oracle();
        var expected = OracleIds(oracle, text);

        var ids = Counter.Encode(text);

        Assert.True(expected.SequenceEqual(ids), $"{name}: ids differ from Microsoft.ML.Tokenizers'");
        Assert.True(name != "lone surrogates" || text.Contains('\uD800'), "the lone surrogates reached the test intact");
        Assert.Equal(expected.Count, Counter.Count(text));
        Assert.Equal(oracle.Decode(expected), Counter.Decode(ids));
    }

    [Fact]
    public void Encode_RandomMixedCorpus_IdsEqualTheOracles()
    {
        // 400 documents of random fragments from every case above plus random code points from many blocks, glued
        // with random separators: about a megabyte, the pieces' boundaries falling everywhere.
        var oracle = Oracle();
        var fragments = Cases().Select(c => (string)c[1]).ToArray();
        string[] separators = [" ", "", "\n", "\r\n", "\t", "  ", "'", "'S", "'s ", "<|endoftext|>", "-", "/", "\u0301", "\uD83D", "0", "12345"];
        (int From, int To)[] blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
            (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAD00),
            (0xFF00, 0xFFEF), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF), (0x10000, 0x1007F)];
        var random = new Random(2026_12_07);
        var mismatches = new List<string>();
        var totalChars = 0;
        for (var doc = 0; doc < 400; doc++)
        {
            var sb = new StringBuilder();
            var parts = random.Next(5, 60);
            for (var p = 0; p < parts; p++)
            {
                if (random.Next(3) == 0)
                {
                    var (from, to) = blocks[random.Next(blocks.Length)];
                    for (var k = random.Next(1, 30); k > 0; k--)
                    {
                        sb.Append(char.ConvertFromUtf32(random.Next(from, to + 1)));
                    }
                }
                else
                {
                    var f = fragments[random.Next(fragments.Length)];
                    var start = random.Next(f.Length);
                    sb.Append(f, start, random.Next(f.Length - start + 1));
                }

                sb.Append(separators[random.Next(separators.Length)]);
            }

            var text = sb.ToString();
            totalChars += text.Length;
            var expected = OracleIds(oracle, text);
            var ids = Counter.Encode(text);
            if (!expected.SequenceEqual(ids) || Counter.Count(text) != expected.Count)
            {
                mismatches.Add(text);
            }
        }

        Assert.True(totalChars > 200_000);
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} documents differ; the first: {mismatches.FirstOrDefault()}");
    }

    [Fact]
    public void Encode_LongRunsPastTheGuard_IdsEqualTheOraclesPerSegment()
    {
        var oracle = Oracle();
        var random = new Random(26);
        var word = string.Concat(Enumerable.Range(0, 5_000).Select(_ => (char)('a' + random.Next(26))));
        var digits = string.Concat(Enumerable.Range(0, 1_000).Select(_ => (char)('0' + random.Next(10))));
        var emoji = string.Concat(Enumerable.Repeat("👨‍👩‍👧", 200));
        var text = $"start {word} {digits}\n{emoji} {new string('x', 700)}<|endoftext|>{new string('=', 900)} end";

        Assert.True(TokenCounter.Segments(text).Count() > 10);
        Assert.Equal(OracleIds(oracle, text), Counter.Encode(text));
    }

    [Fact]
    public void Encode_PiecesLongerThanTheScanLimit_MergeLikeTheOracle()
    {
        // Pieces over O200kBase.LargePiece bytes take the priority-queue merge: whitespace runs (one piece however long),
        // 256-character words of three- and four-byte characters, digits and punctuation runs of every length around it.
        var oracle = Oracle();
        var random = new Random(128);
        string[] units = [" ", "\t", "\n", "\r\n", "東", "한", "🙂", "é", "-", "=", "a", "Z", "9", "'s"];
        var texts = new List<string>();
        foreach (var length in new[] { 43, 44, 64, 65, 127, 128, 129, 200, 255, 256, 257, 700, 3_000 })
        {
            foreach (var unit in units)
            {
                texts.Add("x " + string.Concat(Enumerable.Repeat(unit, length)) + " y");
            }

            texts.Add(string.Concat(Enumerable.Range(0, length).Select(_ => units[random.Next(units.Length)])));
            texts.Add(string.Concat(Enumerable.Range(0, length).Select(_ => (char)random.Next(0x4E00, 0x9FFF))));
            texts.Add(new string(' ', length) + "\n" + new string(' ', length) + "end");
        }

        foreach (var text in texts)
        {
            Assert.True(OracleIds(oracle, text).SequenceEqual(Counter.Encode(text)), $"ids differ on a text of {text.Length} characters starting '{text[..Math.Min(20, text.Length)]}'");
        }

        Assert.Contains(texts, t => t.Contains(new string(' ', 3_000), StringComparison.Ordinal));
    }

    [Fact]
    public void Encode_HundredThousandSpaces_OnePieceRoundTrips()
    {
        // One piece of 100,000 bytes (whitespace is never cut by the long-run guard): merged without a scan per merge.
        var text = "a" + new string(' ', 100_000) + "b";

        var ids = Counter.Encode(text);

        Assert.Single(TokenCounter.Segments(text));
        Assert.Equal(text, Counter.Decode(ids));
        Assert.Equal(ids.Count, Counter.Count(text));
        Assert.True(ids.Count < 100_000 / 8);
    }

    [Fact]
    public void Vocabulary_EveryTokenOfTheOracle_HasTheSameRankAndDecodesAlike()
    {
        var oracle = TiktokenTokenizer.CreateForEncoding("o200k_base");
        var encoding = O200kBase.Load();

        // Every token by its bytes (the oracle's encoder; not public in 2.0.1, so read by reflection)...
        var encoder = (IReadOnlyDictionary<ReadOnlyMemory<byte>, int>)typeof(TiktokenTokenizer)
            .GetProperty("Encoder", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)!
            .GetValue(oracle)!;
        foreach (var (token, id) in encoder)
        {
            Assert.Equal(id, encoding.Rank(token.Span));
        }

        // ...and every id, fragments included, decodes to the same text (U+FFFD where the bytes are not UTF-8).
        Assert.True(encoder.Count > 199_000);
        for (var id = 0; id < encoding.RankCount; id++)
        {
            Assert.Equal(oracle.Decode([id]), encoding.Decode([id]));
        }

        Assert.Equal(encoder.Values.Max() + 1, encoding.RankCount);
        Assert.Equal(oracle.SpecialTokens!.OrderBy(s => s.Value).Select(s => (s.Key, s.Value)),
            new[] { ("<|endoftext|>", 199999), ("<|endofprompt|>", 200018) });
    }

    [Fact]
    public void Decode_TokensCuttingCharactersAndSpecials_EqualsTheOracle()
    {
        var oracle = Oracle();
        var ids = Counter.Encode("東京 🙂👨‍👩‍👧 naïve <|endoftext|> مرحبا नमस्ते <|endofprompt|>").ToList();
        var random = new Random(11);

        // Every prefix and many random sub-sequences, which cut multi-byte characters between tokens.
        for (var n = 0; n <= ids.Count; n++)
        {
            Assert.Equal(oracle.Decode(ids.Take(n)), Counter.Decode(ids.Take(n)));
        }

        for (var k = 0; k < 500; k++)
        {
            var picked = Enumerable.Range(0, random.Next(1, 8)).Select(_ => ids[random.Next(ids.Count)]).ToList();
            Assert.Equal(oracle.Decode(picked), Counter.Decode(picked));
        }
    }

    [Fact]
    public void Read_LinesOutOfOrder_FailsNamingTheLine()
    {
        var file = "YQ== 0\nYg== 1\nYw== 1\n";

        var error = Assert.Throws<InvalidDataException>(() => O200kBase.Read(new MemoryStream(Encoding.UTF8.GetBytes(file))));

        Assert.Contains("Yw== 1", error.Message);
    }

    [Fact]
    public void Read_SmallVocabulary_MergesByRank()
    {
        // a=0 b=1 c=2 "bc"=3 "ab"=4 "abc"=5: "abc" is merged as b+c first (rank 3 beats 4), then a+bc is no token.
        var lines = new[] { ("a", 0), ("b", 1), ("c", 2), ("bc", 3), ("ab", 4), ("abcd", 5), ("d", 6) }
            .Select(t => $"{Convert.ToBase64String(Encoding.UTF8.GetBytes(t.Item1))} {t.Item2}");
        var encoding = O200kBase.Read(new MemoryStream(Encoding.UTF8.GetBytes("Capacity: 7\n" + string.Join("\n", lines))));
        var ids = new List<int>();

        Assert.Equal(2, encoding.Encode("abc", ids));
        Assert.Equal([0, 3], ids);
        ids.Clear();
        Assert.Equal(1, encoding.Encode("abcd", ids));
        Assert.Equal([5], ids);
        Assert.Equal("abcd", encoding.Decode([0, 3, 6]));
        Assert.Equal(-1, encoding.Rank("ca"u8));
    }
}
