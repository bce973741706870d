using Keystone.Gateway.Tokenization;
using Keystone.Web.Features.Knowledge;

namespace Keystone.Web.Tests.Knowledge;

public sealed class ChunkerTests
{
    private static readonly Chunker Chunker = new(TokenCounter.Instance, 120, 30);

    private static string Sentences(string topic, int count)
        => string.Join(" ", Enumerable.Range(1, count).Select(i => $"The {topic} rule number {i} says that widgets must be checked before shipping on day {i}."));

    [Fact]
    public void Chunk_LongSection_StaysWithinBudgetAndEndsEveryChunkAtASentence()
    {
        var document = new ParsedDocument("Manual", "markdown", [new ParsedSection(["Shipping"], Sentences("shipping", 40))]);

        var chunks = Chunker.Chunk(document);

        Assert.True(chunks.Count > 3);
        Assert.All(chunks, c =>
        {
            Assert.True(c.TokenCount <= 120, $"chunk {c.Position} has {c.TokenCount} tokens");
            Assert.EndsWith(".", c.Text, StringComparison.Ordinal);
            Assert.StartsWith("The shipping rule", c.Text, StringComparison.Ordinal);
        });
        Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Position));
    }

    [Fact]
    public void Chunk_NextChunkOfASection_StartsWithTheLastSentenceOfThePrevious()
    {
        var document = new ParsedDocument("Manual", "markdown", [new ParsedSection(["Shipping"], Sentences("shipping", 40))]);

        var chunks = Chunker.Chunk(document);

        var lastSentence = chunks[0].Text[(chunks[0].Text.LastIndexOf(". The", StringComparison.Ordinal) + 2)..];
        Assert.StartsWith(lastSentence, chunks[1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Chunk_Headings_StartNewChunksAndNameDocumentAndSection()
    {
        var parsed = DocumentParser.ParseMarkdown("# Widget guide\n\nIntro text here.\n\n## Setup\n\nPlug it in.\n\n### Network\n\nJoin the wifi.\n\n## Care\n\nDust it weekly.\n", "file", "markdown");

        var chunks = Chunker.Chunk(parsed);

        Assert.Equal(["", "Setup", "Setup › Network", "Care"], chunks.Select(c => c.Section));
        Assert.Equal(["Widget guide", "Widget guide › Setup", "Widget guide › Setup › Network", "Widget guide › Care"], chunks.Select(c => c.Header));
        Assert.Equal("Join the wifi.", chunks[2].Text);
    }

    [Fact]
    public void Chunk_SameHeaderAndText_HasTheSameHash_AndAChangedWordChangesIt()
    {
        var a = Chunker.Chunk(new ParsedDocument("T", "text", [new ParsedSection([], "One sentence.")]))[0];
        var b = Chunker.Chunk(new ParsedDocument("T", "text", [new ParsedSection([], "One sentence.")]))[0];
        var c = Chunker.Chunk(new ParsedDocument("T", "text", [new ParsedSection([], "One sentences.")]))[0];

        Assert.Equal(a.ContentHash, b.ContentHash);
        Assert.NotEqual(a.ContentHash, c.ContentHash);
    }

    [Fact]
    public void Fuse_ChunkHighInBothLists_RanksFirst()
    {
        Guid a = Guid.NewGuid(), b = Guid.NewGuid(), c = Guid.NewGuid();

        var fused = KnowledgeRetriever.Fuse([a, b], [b, c]).ToList();

        Assert.Equal([b, a, c], fused.Select(f => f.ChunkId));
        Assert.Equal(1.0 / 62 + 1.0 / 61, fused[0].Score, 12);
        Assert.Equal((2, 1), (fused[0].TextRank!.Value, fused[0].VectorRank!.Value));
    }
}
