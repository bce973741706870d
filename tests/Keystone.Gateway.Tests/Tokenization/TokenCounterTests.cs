using Keystone.Gateway.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Keystone.Gateway.Tests.Tokenization;

/// <summary>Exact counts for real text, and bounded work for pathological "words" (a denial-of-service guard).</summary>
public sealed class TokenCounterTests
{
    private static readonly TokenCounter Counter = TokenCounter.Instance;

    [Fact]
    public void Count_OrdinaryText_EqualsTheTokenizersOwnCount()
    {
        var text = string.Join("\n\n", Enumerable.Range(0, 40).Select(i =>
            $"Paragraph {i}: the customer asked why invoice #{i * 37} was charged twice, https://example.com/path?q={i}; émigré naïve 東京 🙂."));
        var exact = TiktokenTokenizer.CreateForEncoding("o200k_base").CountTokens(text);

        Assert.Single(TokenCounter.Segments(text));
        Assert.Equal(exact, Counter.Count(text));
        Assert.Equal(exact, Counter.Encode(text).Count);
    }

    [Fact]
    public void Vocabulary_IsLoadedOnTheFirstExactCount_NotByTheBound()
    {
        // Decision 0065: the vocabulary (about 4 MB since decision 0067) stays out of a gateway that never counts exactly.
        var counter = new TokenCounter();
        var messages = new[] { new ChatMessage("user", "How many tokens is this?") };

        Assert.False(counter.IsLoaded);
        Assert.True(TokenCounter.UpperBoundChat(messages) > 0);
        Assert.Equal(0, counter.Count(""));
        Assert.False(counter.IsLoaded);

        Assert.Equal(Counter.CountChat(messages), counter.CountChat(messages));
        Assert.True(counter.IsLoaded);
    }

    [Fact]
    public void Encode_LongSingleWord_IsCutIntoBoundedRunsAndRoundTrips()
    {
        var random = new Random(7);
        var word = string.Concat(Enumerable.Range(0, 60_000).Select(_ => (char)('a' + random.Next(26))));
        var text = "prefix " + word + " suffix";

        var segments = TokenCounter.Segments(text).ToList();
        var ids = Counter.Encode(text);

        Assert.True(segments.Count >= 60_000 / TokenCounter.MaxRunChars);
        Assert.All(segments, s => Assert.True(text.Substring(s.Start, s.Length).Split(' ').Max(w => w.Length) <= TokenCounter.MaxRunChars));
        Assert.Equal(text, string.Concat(segments.Select(s => text.Substring(s.Start, s.Length))));
        Assert.Equal(text, Counter.Decode(ids));
        Assert.Equal(ids.Count, Counter.Count(text));
    }

    [Fact]
    public void Segments_LongRunOfSurrogatePairs_NeverSplitsAPair()
    {
        var text = string.Concat(Enumerable.Repeat("🙂", 1_000));

        var segments = TokenCounter.Segments(text).ToList();

        Assert.True(segments.Count > 1);
        Assert.All(segments, s => Assert.False(char.IsLowSurrogate(text[s.Start])));
        Assert.Equal(text, Counter.Decode(Counter.Encode(text)));
    }
}
